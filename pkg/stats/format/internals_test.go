package format_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/format"
)

// internalsSamples is a short call as stored: objects appear over time,
// values of every JSON kind.
func internalsSamples() [][]stats.Object {
	t0 := 1_795_000_000_000.0
	sdk := func(i int, state string) stats.Object {
		o := stats.Object{"id": "callstat-sdk-info_u-1", "type": "callstat_sdk_info", "timestamp": t0 + float64(i)*1000,
			"state": state, "platform": "linux/amd64 go1.26", "callId": "c-1"}
		if i > 0 {
			o["mos"] = 4.4
		}
		return o
	}
	out := func(i int) stats.Object {
		return stats.Object{"id": "outbound-rtp-1", "type": "outbound-rtp", "timestamp": t0 + float64(i)*1000,
			"packetsSent": float64(50 * i), "kind": "audio", "active": true}
	}
	return [][]stats.Object{
		{sdk(0, "Ringing"), out(0)},
		{sdk(1, "Connected"), out(1), {"id": "remote-inbound-rtp-1", "type": "remote-inbound-rtp", "timestamp": t0 + 1000,
			"roundTripTime": 0.0123, "fractionLost": nil}},
		{sdk(2, "Connected"), out(2), {"id": "remote-inbound-rtp-1", "type": "remote-inbound-rtp", "timestamp": t0 + 2000,
			"roundTripTime": 0.0125, "fractionLost": 0.01}},
		{sdk(3, "Ended"), out(3)},
	}
}

func writeDump(t *testing.T, samples [][]stats.Object) (*format.InternalsCall, []byte) {
	t.Helper()
	acc := format.NewInternalsCall()
	acc.AddEvent(time.UnixMilli(1_794_999_999_500), "callStart", "outgoing call to alice")
	for _, s := range samples {
		body, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := acc.AddSample(body); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	iw := format.NewInternalsWriter(&buf)
	if err := iw.Begin(); err != nil {
		t.Fatal(err)
	}
	if err := iw.WritePeerConnection(format.InternalsConnection{Key: "1-c-1", URL: "callstat://bob/c-1"}, acc); err != nil {
		t.Fatal(err)
	}
	if err := iw.WritePeerConnection(format.InternalsConnection{Key: "2-c-2", URL: "callstat://bob/c-2"}, format.NewInternalsCall()); err != nil {
		t.Fatal(err)
	}
	if err := iw.End("callstat/1.2.3 (linux)", []format.UABrand{{Brand: "callstat", Version: "1.2.3"}}); err != nil {
		t.Fatal(err)
	}
	return acc, buf.Bytes()
}

func TestInternalsRoundTrip(t *testing.T) {
	samples := internalsSamples()
	_, data := writeDump(t, samples)
	if !json.Valid(data) {
		t.Fatalf("not JSON:\n%s", data)
	}
	d, err := format.ReadInternals(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if d.UserAgent != "callstat/1.2.3 (linux)" || len(d.UserAgentData) != 1 || d.UserAgentData[0].Brand != "callstat" ||
		d.GetUserMedia == nil || len(d.PeerConnections) != 2 {
		t.Fatalf("dump head: UA %q, data %v, gum %v, %d connections", d.UserAgent, d.UserAgentData, d.GetUserMedia, len(d.PeerConnections))
	}
	pc := d.PeerConnections["1-c-1"]
	if pc.URL != "callstat://bob/c-1" || pc.UpdateLog == nil || pc.Stats == nil {
		t.Fatalf("peer connection = %+v", pc)
	}
	if empty := d.PeerConnections["2-c-2"]; len(empty.Stats) != 0 || empty.UpdateLog == nil {
		t.Errorf("a call without samples: %+v", empty)
	}

	// Every value of every sample is in its series, in order, and nothing
	// else is.
	want := map[string][]string{}
	types := map[string]string{}
	times := map[string][]float64{}
	for _, s := range samples {
		for _, o := range s {
			ts, _ := o.Number("timestamp")
			for k, v := range o {
				if k == "id" || k == "type" {
					continue
				}
				key := o.ID() + "-" + k
				raw, _ := json.Marshal(v)
				want[key] = append(want[key], string(raw))
				types[key] = o.Type()
				times[key] = append(times[key], ts)
			}
		}
	}
	if len(pc.Stats) != len(want) {
		t.Errorf("%d series, want %d", len(pc.Stats), len(want))
	}
	for key, values := range want {
		s, ok := pc.Stats[key]
		if !ok {
			t.Errorf("series %s missing", key)
			continue
		}
		got, err := s.Decode()
		if err != nil {
			t.Fatal(err)
		}
		var gotS []string
		for _, v := range got {
			gotS = append(gotS, string(v))
		}
		if strings.Join(gotS, " ") != strings.Join(values, " ") {
			t.Errorf("%s = %v, want %v", key, gotS, values)
		}
		start := time.UnixMilli(int64(times[key][0])).UTC().Format("2006-01-02T15:04:05.000Z")
		end := time.UnixMilli(int64(times[key][len(times[key])-1])).UTC().Format("2006-01-02T15:04:05.000Z")
		if s.StatsType != types[key] || s.StartTime != start || s.EndTime != end {
			t.Errorf("%s: type %s %s..%s, want %s %s..%s", key, s.StatsType, s.StartTime, s.EndTime, types[key], start, end)
		}
		if id, prop := format.SplitSeriesKey(key); id+"-"+prop != key || strings.Contains(prop, "-") {
			t.Errorf("SplitSeriesKey(%s) = %s, %s", key, id, prop)
		}
	}

	// The updateLog: the start, then each change of call state, by time.
	var log []string
	for _, e := range pc.UpdateLog {
		log = append(log, e.Type+"="+e.Value)
		if e.Time != time.UnixMilli(int64(e.Timestamp)).UTC().Format("2006-01-02T15:04:05.000Z") {
			t.Errorf("event time %s does not match timestamp %v", e.Time, e.Timestamp)
		}
	}
	if got := strings.Join(log, ","); got != "callStart=outgoing call to alice,callStateChange=Ringing,callStateChange=Connected,callStateChange=Ended" {
		t.Errorf("updateLog = %s", got)
	}
}

func TestInternalsKeepsTheLastThousandPoints(t *testing.T) {
	const n = format.MaxInternalsPoints + 5
	samples := make([][]stats.Object, n)
	for i := range samples {
		samples[i] = []stats.Object{{"id": "inbound-rtp-9", "type": "inbound-rtp", "timestamp": float64(1_795_000_000_000 + 1000*i), "packetsReceived": float64(i)}}
	}
	acc, data := writeDump(t, samples)
	if !acc.Truncated() {
		t.Error("Truncated() = false after more than the maximum")
	}
	d, err := format.ReadInternals(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	s := d.PeerConnections["1-c-1"].Stats["inbound-rtp-9-packetsReceived"]
	vs, err := s.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != format.MaxInternalsPoints || string(vs[0]) != "5" || string(vs[len(vs)-1]) != fmt.Sprint(n-1) {
		t.Errorf("%d values from %s to %s, want the last %d (5..%d)", len(vs), vs[0], vs[len(vs)-1], format.MaxInternalsPoints, n-1)
	}
	if want := time.UnixMilli(1_795_000_005_000).UTC().Format("2006-01-02T15:04:05.000Z"); s.StartTime != want {
		t.Errorf("startTime %s, want the oldest kept point's %s", s.StartTime, want)
	}
	if short, _ := writeDump(t, samples[:10]); short.Truncated() {
		t.Error("Truncated() = true for a short call")
	}
}

func TestReadInternalsRejects(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"PeerConnections":{}}`, `{"UserAgentData":[]}`, `{"PeerConnections":{},"UserAgentData":[]`} {
		if _, err := format.ReadInternals(strings.NewReader(in)); !errors.Is(err, format.ErrNotInternalsDump) {
			t.Errorf("ReadInternals(%q) err = %v", in, err)
		}
	}
	if _, err := format.ReadInternals(strings.NewReader(`{"PeerConnections":{},"UserAgentData":[]}`)); err != nil {
		t.Errorf("minimal dump rejected: %v", err)
	}
}

func TestInternalsAddSampleRejectsNonArrays(t *testing.T) {
	if err := format.NewInternalsCall().AddSample([]byte(`{"id":"x"}`)); err == nil {
		t.Error("AddSample accepted an object")
	}
}
