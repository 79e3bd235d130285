package call

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/stats"
)

// wantFields are the fields each type must carry in a complete report of
// an established call (docs/stats-file.md has the full list).
var wantFields = map[string][]string{
	"peer-connection": {"dataChannelsOpened", "dataChannelsClosed"},
	"transport": {"bytesSent", "bytesReceived", "packetsSent", "packetsReceived", "dtlsState", "dtlsRole", "iceRole",
		"iceState", "selectedCandidatePairId", "selectedCandidatePairChanges", "tlsVersion", "srtpCipher", "dtlsCipher",
		"localCertificateId", "remoteCertificateId"},
	"candidate-pair": {"transportId", "localCandidateId", "remoteCandidateId", "state", "nominated", "priority", "writable",
		"currentRoundTripTime", "totalRoundTripTime", "requestsSent", "responsesReceived", "requestsReceived", "responsesSent",
		"bytesSent", "bytesReceived", "packetsSent", "packetsReceived", "availableOutgoingBitrate"},
	"local-candidate":  {"transportId", "address", "port", "protocol", "candidateType", "priority", "foundation", "usernameFragment", "isRemote"},
	"remote-candidate": {"transportId", "address", "port", "protocol", "candidateType", "priority", "foundation", "usernameFragment", "isRemote"},
	"certificate":      {"fingerprint", "fingerprintAlgorithm", "base64Certificate"},
	"codec":            {"transportId", "payloadType", "mimeType", "clockRate", "channels", "sdpFmtpLine"},
	"media-source":     {"kind", "trackIdentifier"},
	"outbound-rtp": {"ssrc", "kind", "mediaType", "transportId", "codecId", "mid", "mediaSourceId", "remoteId", "packetsSent",
		"bytesSent", "headerBytesSent", "totalPacketSendDelay", "retransmittedPacketsSent", "retransmittedBytesSent", "nackCount",
		"targetBitrate"},
	"remote-inbound-rtp": {"ssrc", "kind", "mediaType", "transportId", "codecId", "localId", "packetsReceived", "packetsLost",
		"fractionLost", "jitter", "roundTripTime", "totalRoundTripTime", "roundTripTimeMeasurements"},
	"inbound-rtp": {"ssrc", "kind", "mediaType", "transportId", "codecId", "mid", "trackIdentifier", "remoteId",
		"packetsReceived", "packetsLost", "packetsDiscarded", "jitter", "bytesReceived", "headerBytesReceived",
		"lastPacketReceivedTimestamp"},
	"remote-outbound-rtp": {"ssrc", "kind", "mediaType", "transportId", "codecId", "localId", "packetsSent", "bytesSent",
		"remoteTimestamp", "reportsSent", "roundTripTime", "totalRoundTripTime", "roundTripTimeMeasurements"},
}

// complete reports whether a report has every type, each with its fields,
// and a round-trip time from every source.
func complete(objs []stats.Object) bool {
	have := map[string]stats.Object{}
	for _, o := range objs {
		have[o.Type()] = o
	}
	for typ, fields := range wantFields {
		o, ok := have[typ]
		if !ok {
			return false
		}
		for _, f := range fields {
			if _, ok := o[f]; !ok {
				return false
			}
		}
	}
	n, _ := have["remote-outbound-rtp"].Number("roundTripTimeMeasurements")
	return n > 0
}

func missing(objs []stats.Object) []string {
	have := map[string]stats.Object{}
	for _, o := range objs {
		have[o.Type()] = o
	}
	var out []string
	for typ, fields := range wantFields {
		o, ok := have[typ]
		if !ok {
			out = append(out, typ)
			continue
		}
		for _, f := range fields {
			if _, ok := o[f]; !ok {
				out = append(out, typ+"."+f)
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestReportIsCompleteAndConsistent(t *testing.T) {
	lim := test.TimeOut(90 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	url, _, stopServer := testServer(t)
	defer stopServer()
	toneA, toneB := testSource(t, "tone:1000"), testSource(t, "tone:600")
	defer toneA.Close()
	defer toneB.Close()
	alice := newTestPhone(t, url, "alice@example.com", true, toneA, Hooks{})
	answering := autoAnswer(t, alice)
	bob := newTestPhone(t, url, "bob@example.com", false, toneB, Hooks{})
	defer func() {
		_ = bob.Close()
		_ = alice.Close()
		answering.Wait()
	}()

	c, err := bob.Dial(context.Background(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c.Connected(), "caller Connected")

	// Every report, from the first one, has only resolvable references;
	// within a few RTCP intervals it has everything.
	var last stats.Report
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := c.CollectStats()
		if err != nil {
			t.Fatal(err)
		}
		if d := danglingReferences(r.Objects); len(d) > 0 {
			t.Fatalf("dangling references: %v", d)
		}
		last = r
		if complete(r.Objects) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("report still lacks %v", missing(r.Objects))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last.State != "Connected" {
		t.Errorf("state = %q", last.State)
	}

	byType := map[string][]stats.Object{}
	ids := map[string]bool{}
	for _, o := range last.Objects {
		byType[o.Type()] = append(byType[o.Type()], o)
		if ids[o.ID()] {
			t.Errorf("duplicate id %s", o.ID())
		}
		ids[o.ID()] = true
		if ts, _ := o.Number("timestamp"); ts != mustNumber(t, last.Objects[0], "timestamp") {
			t.Errorf("%s timestamp %v differs from the report's", o.ID(), ts)
		}
		for k, v := range o {
			if f, ok := v.(float64); ok && strings.HasSuffix(k, "Timestamp") && f <= 0 {
				t.Errorf("%s.%s = %v: a timestamp never set must be left out", o.ID(), k, f)
			}
		}
	}
	tr := byType["transport"][0]
	if tr["iceRole"] != "controlling" || tr["iceState"] != "connected" || tr["dtlsState"] != "connected" {
		t.Errorf("caller transport roles/states: %v %v %v", tr["iceRole"], tr["iceState"], tr["dtlsState"])
	}
	if tr["dtlsRole"] != "server" { // the offerer's actpass against pion's active answer
		t.Errorf("caller dtlsRole = %v", tr["dtlsRole"])
	}
	if n, _ := tr.Number("packetsSent"); n == 0 {
		t.Error("transport packetsSent is 0")
	}
	if len(byType["certificate"]) != 2 {
		t.Errorf("%d certificates, want ours and the far end's", len(byType["certificate"]))
	}
	out, ri := byType["outbound-rtp"][0], byType["remote-inbound-rtp"][0]
	in, ro := byType["inbound-rtp"][0], byType["remote-outbound-rtp"][0]
	if out["remoteId"] != ri.ID() || ri["localId"] != out.ID() || in["remoteId"] != ro.ID() || ro["localId"] != in.ID() {
		t.Error("local and remote stream objects do not name each other")
	}
	if out["ssrc"] != ri["ssrc"] || in["ssrc"] != ro["ssrc"] || out["ssrc"] == in["ssrc"] {
		t.Errorf("ssrcs: out %v ri %v in %v ro %v", out["ssrc"], ri["ssrc"], in["ssrc"], ro["ssrc"])
	}
	// On loopback every round-trip time is well under 50 ms, and set.
	for _, m := range []struct {
		o     stats.Object
		field string
	}{{ri, "roundTripTime"}, {ro, "roundTripTime"}, {byType["candidate-pair"][0], "currentRoundTripTime"}} {
		v, ok := m.o.Number(m.field)
		if !ok || v < 0 || v > 0.05 {
			t.Errorf("%s.%s = %v", m.o.Type(), m.field, m.o[m.field])
		}
	}
	if ms := byType["media-source"][0]; ms["trackIdentifier"] != c.LocalTrackID() || out["mediaSourceId"] != ms.ID() {
		t.Errorf("media-source %v does not describe the local track %s", ms, c.LocalTrackID())
	}
	remote := c.remoteTrackIDs()
	if len(remote) != 1 || in["trackIdentifier"] != remote[0] || remote[0] == c.LocalTrackID() {
		t.Errorf("remote tracks %v, inbound trackIdentifier %v, local %s", remote, in["trackIdentifier"], c.LocalTrackID())
	}

	// Narrowed to the local track: our stream and what it refers to, not
	// the received one; narrowed to the remote track, the reverse.
	localR, err := c.collectTrackStats(c.LocalTrackID())
	if err != nil {
		t.Fatal(err)
	}
	remoteR, err := c.collectTrackStats(remote[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		objs       []stats.Object
		want, lack []string
	}{
		{"local", localR.Objects, []string{"outbound-rtp", "remote-inbound-rtp", "media-source", "codec", "transport", "candidate-pair"}, []string{"inbound-rtp", "remote-outbound-rtp", "peer-connection"}},
		{"remote", remoteR.Objects, []string{"inbound-rtp", "remote-outbound-rtp", "codec", "transport", "candidate-pair"}, []string{"outbound-rtp", "media-source", "peer-connection"}},
	} {
		got := map[string]bool{}
		for _, o := range tc.objs {
			got[o.Type()] = true
		}
		for _, typ := range tc.want {
			if !got[typ] {
				t.Errorf("%s track report lacks %s", tc.name, typ)
			}
		}
		for _, typ := range tc.lack {
			if got[typ] {
				t.Errorf("%s track report has %s", tc.name, typ)
			}
		}
		if d := danglingReferences(tc.objs); len(d) > 0 {
			t.Errorf("%s track report: dangling %v", tc.name, d)
		}
	}
	if _, err := c.collectTrackStats("no-such-track"); !errors.Is(err, stats.ErrTrackNotFound) {
		t.Errorf("unknown track: err = %v, want ErrTrackNotFound", err)
	}

	// The callee's report is complete too, with the opposite roles.
	deadline = time.Now().Add(30 * time.Second)
	for len(alice.Calls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	ac := alice.Calls()[0]
	for {
		r, err := ac.CollectStats()
		if err != nil {
			t.Fatal(err)
		}
		if d := danglingReferences(r.Objects); len(d) > 0 {
			t.Fatalf("callee: dangling references: %v", d)
		}
		if complete(r.Objects) {
			for _, o := range r.Objects {
				if o.Type() == "transport" && (o["iceRole"] != "controlled" || o["dtlsRole"] != "client") {
					t.Errorf("callee transport: iceRole %v dtlsRole %v", o["iceRole"], o["dtlsRole"])
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("callee report still lacks %v", missing(r.Objects))
		}
		time.Sleep(100 * time.Millisecond)
	}

	c.Hangup("test done")
	wait(t, c.Done(), "caller Done")
	if _, err := c.CollectStats(); !errors.Is(err, ErrInvalidState) {
		t.Errorf("stats after the end: err = %v, want ErrInvalidState", err)
	}
}

func mustNumber(t *testing.T, o stats.Object, field string) float64 {
	t.Helper()
	v, ok := o.Number(field)
	if !ok {
		t.Fatalf("%s has no number %s", o.ID(), field)
	}
	return v
}

func TestDTLSRole(t *testing.T) {
	tests := []struct {
		local, remote, want string
	}{
		{"a=setup:active", "a=setup:actpass", "client"},
		{"a=setup:passive\r\n", "a=setup:actpass", "server"},
		{"v=0\r\na=setup:actpass\r\n", "a=setup:active\r\n", "server"},
		{"a=setup:actpass", "a=setup:passive", "client"},
		{"a=setup:actpass", "", "unknown"},
		{"", "", "unknown"},
	}
	for _, tt := range tests {
		if got := dtlsRole(tt.local, tt.remote); got != tt.want {
			t.Errorf("dtlsRole(%q, %q) = %s, want %s", tt.local, tt.remote, got, tt.want)
		}
	}
}
