package report_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/report"
)

func f(v float64) *float64 { return &v }

func TestSummarizer(t *testing.T) {
	sdk := stats.Object{"id": "callstat-sdk-info_x", "type": "callstat_sdk_info"}
	sdkMOS := func(mos float64) stats.Object {
		return stats.Object{"id": "callstat-sdk-info_x", "type": "callstat_sdk_info", "mos": mos}
	}
	inbound := func(id string, received, lost, jitter float64) stats.Object {
		return stats.Object{"id": id, "type": "inbound-rtp", "packetsReceived": received, "packetsLost": lost, "jitter": jitter}
	}
	pair := func(id string, nominated bool, rtt float64) stats.Object {
		return stats.Object{"id": id, "type": "candidate-pair", "nominated": nominated, "currentRoundTripTime": rtt}
	}
	remoteInbound := func(rtt float64) stats.Object {
		return stats.Object{"id": "RI", "type": "remote-inbound-rtp", "roundTripTime": rtt, "roundTripTimeMeasurements": 1.0}
	}
	tests := []struct {
		name    string
		samples [][]stats.Object
		want    report.CallSummary
	}{
		{
			name:    "nothing measured",
			samples: [][]stats.Object{{sdk}},
			want:    report.CallSummary{Samples: 1},
		},
		{
			name: "loss, jitter and RTT from RTCP over ICE",
			samples: [][]stats.Object{
				{sdk, pair("CP", true, 0.002), inbound("IT", 45, 5, 0.003),
					{"id": "OT", "type": "outbound-rtp", "packetsSent": 50.0}, remoteInbound(0.040)},
				{sdk, pair("CP", true, 0.002), inbound("IT", 95, 5, 0.0125),
					{"id": "OT", "type": "outbound-rtp", "packetsSent": 100.0}, remoteInbound(0.050)},
			},
			want: report.CallSummary{Samples: 2,
				MediaFigures: report.MediaFigures{PacketsSent: 100, PacketsReceived: 95, PacketsLost: 5, LossPercent: f(5),
					JitterP50Ms: f(3), JitterP95Ms: f(12.5), RTTP50Ms: f(40), RTTP95Ms: f(50)}},
		},
		{
			name: "RTT from ICE until RTCP has measured one",
			samples: [][]stats.Object{
				{sdk, pair("CP", true, 0.007), {"id": "RI", "type": "remote-inbound-rtp", "roundTripTime": 0.0, "roundTripTimeMeasurements": 0.0}},
			},
			want: report.CallSummary{Samples: 1, MediaFigures: report.MediaFigures{RTTP50Ms: f(7), RTTP95Ms: f(7)}},
		},
		{
			name: "ICE RTT of the nominated pair, not another one",
			samples: [][]stats.Object{
				{sdk, pair("A", false, 0.100), pair("B", true, 0.003), pair("C", false, 0.200)},
			},
			want: report.CallSummary{Samples: 1, MediaFigures: report.MediaFigures{RTTP50Ms: f(3), RTTP95Ms: f(3)}},
		},
		{
			name: "ICE RTT of the transport's selected pair first",
			samples: [][]stats.Object{
				{sdk, {"id": "T", "type": "transport", "selectedCandidatePairId": "C"},
					pair("B", true, 0.003), pair("C", false, 0.009)},
			},
			want: report.CallSummary{Samples: 1, MediaFigures: report.MediaFigures{RTTP50Ms: f(9), RTTP95Ms: f(9)}},
		},
		{
			name: "ICE RTT of any pair when none is nominated",
			samples: [][]stats.Object{
				{sdk, pair("A", false, 0), pair("B", false, 0.004)},
			},
			want: report.CallSummary{Samples: 1, MediaFigures: report.MediaFigures{RTTP50Ms: f(4), RTTP95Ms: f(4)}},
		},
		{
			name: "packets sent summed over the outbound streams",
			samples: [][]stats.Object{
				{sdk, {"id": "T", "type": "transport", "packetsSent": 999.0},
					{"id": "OA", "type": "outbound-rtp", "packetsSent": 10.0},
					{"id": "OB", "type": "outbound-rtp", "packetsSent": 20.0}},
			},
			want: report.CallSummary{Samples: 1, MediaFigures: report.MediaFigures{PacketsSent: 30}},
		},
		{
			name: "inbound summed over streams, worst jitter",
			samples: [][]stats.Object{
				{sdk, inbound("IA", 90, 10, 0.002), inbound("IB", 290, 10, 0.020)},
			},
			want: report.CallSummary{Samples: 1,
				MediaFigures: report.MediaFigures{PacketsReceived: 380, PacketsLost: 20, LossPercent: f(5), JitterP50Ms: f(20), JitterP95Ms: f(20)}},
		},
		{
			name: "negative packetsLost (duplicates) is no loss",
			samples: [][]stats.Object{
				{sdk, inbound("IT", 102, -2, 0)},
			},
			want: report.CallSummary{Samples: 1,
				MediaFigures: report.MediaFigures{PacketsReceived: 102, PacketsLost: -2, LossPercent: f(0), JitterP50Ms: f(0), JitterP95Ms: f(0)}},
		},
		{
			name: "a sample without the stream keeps the counters",
			samples: [][]stats.Object{
				{sdk, inbound("IT", 99, 1, 0.001), {"id": "OT", "type": "outbound-rtp", "packetsSent": 7.0}},
				{sdk},
			},
			want: report.CallSummary{Samples: 2,
				MediaFigures: report.MediaFigures{PacketsSent: 7, PacketsReceived: 99, PacketsLost: 1,
					LossPercent: f(1), JitterP50Ms: f(1), JitterP95Ms: f(1)}},
		},
		{
			name:    "MOS: the worst interval and the mean, over the samples that have one",
			samples: [][]stats.Object{{sdkMOS(4.4)}, {sdk}, {sdkMOS(3.0)}, {sdkMOS(4.1)}},
			want:    report.CallSummary{Samples: 4, MediaFigures: report.MediaFigures{MOSMin: f(3.0), MOSMean: f(3.8333333333)}},
		},
		{
			name: "percentiles over samples: p50 and p95 of twenty values",
			samples: func() [][]stats.Object {
				var out [][]stats.Object
				for i := 1; i <= 20; i++ {
					out = append(out, []stats.Object{sdk, inbound("IT", float64(10*i), 0, float64(i)/1000), remoteInbound(float64(100+i) / 1000)})
				}
				return out
			}(),
			want: report.CallSummary{Samples: 20,
				MediaFigures: report.MediaFigures{PacketsReceived: 200, LossPercent: f(0), JitterP50Ms: f(10),
					JitterP95Ms: f(19), RTTP50Ms: f(110), RTTP95Ms: f(119)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var direct, fromJSON report.Summarizer
			for _, s := range tt.samples {
				direct.Add(s)
				body, err := json.Marshal(s)
				if err != nil {
					t.Fatal(err)
				}
				if err := fromJSON.AddJSON(body); err != nil {
					t.Fatal(err)
				}
			}
			for name, got := range map[string]report.CallSummary{"Add": direct.Summary(), "AddJSON": fromJSON.Summary()} {
				if d := summaryDiff(got, tt.want); d != "" {
					t.Errorf("%s: %s", name, d)
				}
			}
		})
	}
}

// In-memory samples hold the counters' own integer types.
func TestSummarizerIntegerCounters(t *testing.T) {
	var z report.Summarizer
	z.Add([]stats.Object{
		{"type": "outbound-rtp", "packetsSent": uint64(40)},
		{"type": "inbound-rtp", "packetsReceived": uint32(30), "packetsLost": int64(10)},
	})
	want := report.CallSummary{Samples: 1,
		MediaFigures: report.MediaFigures{PacketsSent: 40, PacketsReceived: 30, PacketsLost: 10,
			LossPercent: f(25), JitterP50Ms: f(0), JitterP95Ms: f(0)}}
	if d := summaryDiff(z.Summary(), want); d != "" {
		t.Error(d)
	}
}

func TestSummarizerAddJSONError(t *testing.T) {
	var z report.Summarizer
	if err := z.AddJSON([]byte(`{"not": "an array"}`)); err == nil {
		t.Error("AddJSON(object) succeeded")
	}
	if z.Summary().Samples != 0 {
		t.Error("a rejected sample was counted")
	}
}

func TestSetCall(t *testing.T) {
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	rec := stats.CallRecord{CallID: "c", Participant: "bob", Direction: "outgoing", Peer: "alice", StartedAt: start}
	tests := []struct {
		name          string
		end           stats.EndRecord
		setup, length *float64
	}{
		{"connected and ended", stats.EndRecord{ConnectedAt: start.Add(1500 * time.Millisecond), EndedAt: start.Add(11500 * time.Millisecond),
			State: "Ended", StatusCode: 200, Reason: "bye"}, f(1500), f(10000)},
		{"never connected", stats.EndRecord{EndedAt: start.Add(time.Second), State: "Ended", StatusCode: 486, Reason: "busy", Error: "rejected"}, nil, nil},
		{"still running", stats.EndRecord{ConnectedAt: start.Add(time.Second)}, f(1000), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s report.CallSummary
			s.SetCall(rec, tt.end)
			if s.CallID != "c" || s.Participant != "bob" || s.Direction != "outgoing" || s.Peer != "alice" || !s.Start.Equal(start) ||
				s.EndState != tt.end.State || s.StatusCode != tt.end.StatusCode || s.Reason != tt.end.Reason || s.Error != tt.end.Error {
				t.Errorf("description = %+v", s)
			}
			if d := ptrDiff("setupMs", s.SetupMs, tt.setup) + ptrDiff("durationMs", s.DurationMs, tt.length); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		values []float64
		p      float64
		want   *float64
	}{
		{nil, 50, nil},
		{[]float64{7}, 50, f(7)},
		{[]float64{7}, 95, f(7)},
		{[]float64{3, 1, 2, 4}, 50, f(2)},
		{[]float64{3, 1, 2, 4}, 95, f(4)},
		{[]float64{3, 1, 2, 4}, 0, f(1)},
		{[]float64{3, 1, 2, 4}, 100, f(4)},
	}
	for _, tt := range tests {
		if d := ptrDiff(fmt.Sprintf("p%v of %v", tt.p, tt.values), report.Percentile(tt.values, tt.p), tt.want); d != "" {
			t.Error(d)
		}
	}
	in := []float64{3, 1, 2}
	report.Percentile(in, 50)
	if in[0] != 3 {
		t.Error("Percentile sorted its argument")
	}
}

func TestSummaryJSONNulls(t *testing.T) {
	b, err := json.Marshal(report.CallSummary{CallID: "c", Samples: 1, MediaFigures: report.MediaFigures{MOSMin: f(4.2)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"rttP95Ms":null`, `"lossPercent":null`, `"mosMin":4.2`, `"callId":"c"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

func ptrDiff(name string, got, want *float64) string {
	switch {
	case got == nil && want == nil:
		return ""
	case got == nil || want == nil:
		return fmt.Sprintf("%s = %v, want %v; ", name, show(got), show(want))
	case math.Abs(*got-*want) > 1e-6:
		return fmt.Sprintf("%s = %v, want %v; ", name, *got, *want)
	}
	return ""
}

func show(p *float64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func summaryDiff(a, b report.CallSummary) string {
	var d string
	near := func(name string, x, y float64) {
		if math.Abs(x-y) > 1e-9 {
			d += fmt.Sprintf("%s = %v, want %v; ", name, x, y)
		}
	}
	if a.Samples != b.Samples {
		d += fmt.Sprintf("samples = %d, want %d; ", a.Samples, b.Samples)
	}
	near("packetsSent", a.PacketsSent, b.PacketsSent)
	near("packetsReceived", a.PacketsReceived, b.PacketsReceived)
	near("packetsLost", a.PacketsLost, b.PacketsLost)
	d += ptrDiff("lossPercent", a.LossPercent, b.LossPercent)
	d += ptrDiff("jitterP50Ms", a.JitterP50Ms, b.JitterP50Ms)
	d += ptrDiff("jitterP95Ms", a.JitterP95Ms, b.JitterP95Ms)
	d += ptrDiff("rttP50Ms", a.RTTP50Ms, b.RTTP50Ms)
	d += ptrDiff("rttP95Ms", a.RTTP95Ms, b.RTTP95Ms)
	d += ptrDiff("mosMin", a.MOSMin, b.MOSMin)
	d += ptrDiff("mosMean", a.MOSMean, b.MOSMean)
	return d
}
