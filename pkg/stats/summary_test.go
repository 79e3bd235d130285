package stats_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/callstat/callstat/pkg/stats"
)

func TestSummarizer(t *testing.T) {
	sdk := stats.Object{"id": "callstat-sdk-info_x", "type": "callstat_sdk_info"}
	inbound := func(id string, received, lost, jitter float64) stats.Object {
		return stats.Object{"id": id, "type": "inbound-rtp", "packetsReceived": received, "packetsLost": lost, "jitter": jitter}
	}
	pair := func(id string, nominated bool, rtt float64) stats.Object {
		return stats.Object{"id": id, "type": "candidate-pair", "nominated": nominated, "currentRoundTripTime": rtt}
	}
	tests := []struct {
		name    string
		samples [][]stats.Object
		want    stats.CallSummary
	}{
		{
			name:    "nothing measured",
			samples: [][]stats.Object{{sdk}},
			want:    stats.CallSummary{Samples: 1},
		},
		{
			name: "loss, jitter and RTT from RTCP over ICE",
			samples: [][]stats.Object{
				{sdk, pair("CP", true, 0.002), inbound("IT", 45, 5, 0.003),
					{"id": "OT", "type": "outbound-rtp", "packetsSent": 50.0},
					{"id": "RI", "type": "remote-inbound-rtp", "roundTripTime": 0.040}},
				{sdk, pair("CP", true, 0.002), inbound("IT", 95, 5, 0.0125),
					{"id": "OT", "type": "outbound-rtp", "packetsSent": 100.0},
					{"id": "RI", "type": "remote-inbound-rtp", "roundTripTime": 0.050}},
			},
			want: stats.CallSummary{Samples: 2, PacketsSent: 100, PacketsReceived: 95, PacketsLost: 5,
				LossPercent: 5, JitterMs: 12.5, RTTMs: 50},
		},
		{
			name: "RTT from ICE until RTCP has measured one",
			samples: [][]stats.Object{
				{sdk, pair("CP", true, 0.007), {"id": "RI", "type": "remote-inbound-rtp", "roundTripTime": 0.0}},
			},
			want: stats.CallSummary{Samples: 1, RTTMs: 7},
		},
		{
			name: "ICE RTT of the nominated pair, not another one",
			samples: [][]stats.Object{
				{sdk, pair("A", false, 0.100), pair("B", true, 0.003), pair("C", false, 0.200)},
			},
			want: stats.CallSummary{Samples: 1, RTTMs: 3},
		},
		{
			name: "ICE RTT of the transport's selected pair first",
			samples: [][]stats.Object{
				{sdk, {"id": "T", "type": "transport", "selectedCandidatePairId": "C"},
					pair("B", true, 0.003), pair("C", false, 0.009)},
			},
			want: stats.CallSummary{Samples: 1, RTTMs: 9},
		},
		{
			name: "ICE RTT of any pair when none is nominated",
			samples: [][]stats.Object{
				{sdk, pair("A", false, 0), pair("B", false, 0.004)},
			},
			want: stats.CallSummary{Samples: 1, RTTMs: 4},
		},
		{
			name: "packets sent from the transport without outbound-rtp",
			samples: [][]stats.Object{
				{sdk, {"id": "T", "type": "transport", "packetsSent": 321.0}},
			},
			want: stats.CallSummary{Samples: 1, PacketsSent: 321},
		},
		{
			name: "outbound-rtp wins over the transport, summed over streams",
			samples: [][]stats.Object{
				{sdk, {"id": "T", "type": "transport", "packetsSent": 999.0},
					{"id": "OA", "type": "outbound-rtp", "packetsSent": 10.0},
					{"id": "OB", "type": "outbound-rtp", "packetsSent": 20.0}},
			},
			want: stats.CallSummary{Samples: 1, PacketsSent: 30},
		},
		{
			name: "inbound summed over streams, worst jitter",
			samples: [][]stats.Object{
				{sdk, inbound("IA", 90, 10, 0.002), inbound("IB", 290, 10, 0.020)},
			},
			want: stats.CallSummary{Samples: 1, PacketsReceived: 380, PacketsLost: 20, LossPercent: 5, JitterMs: 20},
		},
		{
			name: "negative packetsLost (duplicates) is no loss",
			samples: [][]stats.Object{
				{sdk, inbound("IT", 102, -2, 0)},
			},
			want: stats.CallSummary{Samples: 1, PacketsReceived: 102, PacketsLost: -2},
		},
		{
			name: "a sample without the stream keeps the last figures",
			samples: [][]stats.Object{
				{sdk, inbound("IT", 99, 1, 0.001), {"id": "OT", "type": "outbound-rtp", "packetsSent": 7.0}},
				{sdk},
			},
			want: stats.CallSummary{Samples: 2, PacketsSent: 7, PacketsReceived: 99, PacketsLost: 1, LossPercent: 1, JitterMs: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var direct, fromJSON stats.Summarizer
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
			for name, got := range map[string]stats.CallSummary{"Add": direct.Summary(), "AddJSON": fromJSON.Summary()} {
				if !summaryEqual(got, tt.want) {
					t.Errorf("%s: summary = %+v\nwant            %+v", name, got, tt.want)
				}
			}
		})
	}
}

// In-memory samples hold the counters' own integer types.
func TestSummarizerIntegerCounters(t *testing.T) {
	var z stats.Summarizer
	z.Add([]stats.Object{
		{"type": "outbound-rtp", "packetsSent": uint64(40)},
		{"type": "inbound-rtp", "packetsReceived": uint32(30), "packetsLost": int64(10)},
	})
	want := stats.CallSummary{Samples: 1, PacketsSent: 40, PacketsReceived: 30, PacketsLost: 10, LossPercent: 25}
	if got := z.Summary(); !summaryEqual(got, want) {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
}

func TestSummarizerAddJSONError(t *testing.T) {
	var z stats.Summarizer
	if err := z.AddJSON([]byte(`{"not": "an array"}`)); err == nil {
		t.Error("AddJSON(object) succeeded")
	}
	if z.Summary().Samples != 0 {
		t.Error("a rejected sample was counted")
	}
}

func summaryEqual(a, b stats.CallSummary) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	return a.Samples == b.Samples && near(a.PacketsSent, b.PacketsSent) && near(a.PacketsReceived, b.PacketsReceived) &&
		near(a.PacketsLost, b.PacketsLost) && near(a.LossPercent, b.LossPercent) && near(a.JitterMs, b.JitterMs) &&
		near(a.RTTMs, b.RTTMs)
}
