package stats_test

import (
	"math"
	"testing"

	"github.com/callstat/callstat/pkg/stats"
)

// Expected values worked out by hand from REFERENCE §2's formula, e.g. for
// rtt 100, jitter 10, loss 5: Leff = 130, R = 94.768 − 130/40 = 91.518,
// minus 2.5·5 = 79.018, MOS = 1 + 0.035·79.018 + 7e-6·79.018·19.018·20.982
// = 3.9863.
func TestMOS(t *testing.T) {
	tests := []struct {
		name                    string
		rtt, jitter, loss, want float64
	}{
		{"perfect network", 0, 0, 0, 4.4333},
		{"100 ms RTT, 10 ms jitter", 100, 10, 0, 4.3744},
		{"plus 5 % loss", 100, 10, 5, 3.9863},
		{"typical good call", 20, 5, 1, 4.3688},
		{"Leff exactly 160 takes the steep branch", 150, 0, 0, 4.3574},
		{"the same Leff from jitter", 140, 5, 0, 4.3574},
		{"Leff 350 with 1 % loss", 300, 20, 1, 3.5625},
		{"Leff from 1000 ms on: R = 0, floored to 6.52", 1000, 0, 0, 1.0},
		{"loss above R/2.5 zeroes R", 0, 0, 40, 1.0},
		{"2 % loss at 50 ms", 50, 0, 2, 4.2943},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stats.MOS(tt.rtt, tt.jitter, tt.loss); math.Abs(got-tt.want) > 0.0001 {
				t.Errorf("MOS(%v, %v, %v) = %.5f, want %.4f", tt.rtt, tt.jitter, tt.loss, got, tt.want)
			}
		})
	}
}

func TestIntervalQuality(t *testing.T) {
	sample := func(received, lost, jitter float64, extra ...stats.Object) []stats.Object {
		objs := []stats.Object{
			{"id": "sdk", "type": "callstat_sdk_info"},
			{"id": "T", "type": "transport", "selectedCandidatePairId": "P"},
			{"id": "P", "type": "candidate-pair", "currentRoundTripTime": 0.004},
			{"id": "IN", "type": "inbound-rtp", "packetsReceived": received, "packetsLost": lost, "jitter": jitter},
		}
		return append(objs, extra...)
	}
	rtcp := stats.Object{"id": "RI", "type": "remote-inbound-rtp", "roundTripTime": 0.100, "roundTripTimeMeasurements": 3.0}
	tests := []struct {
		name      string
		prev, cur []stats.Object
		want      stats.Quality
		ok        bool
	}{
		{
			name: "first interval counts from the call's start; ICE RTT before RTCP",
			cur:  sample(95, 5, 0.010),
			want: stats.Quality{RTTMs: 4, JitterMs: 10, LossPercent: 5, MOS: stats.MOS(4, 10, 5)},
			ok:   true,
		},
		{
			name: "only the interval's packets: 5 lost of the last 50",
			prev: sample(100, 10, 0.002),
			cur:  sample(145, 15, 0.003, rtcp),
			want: stats.Quality{RTTMs: 100, JitterMs: 3, LossPercent: 10, MOS: stats.MOS(100, 3, 10)},
			ok:   true,
		},
		{
			name: "packetsLost going down (duplicates) is no loss",
			prev: sample(100, 10, 0.002),
			cur:  sample(150, 8, 0.002),
			want: stats.Quality{RTTMs: 4, JitterMs: 2, LossPercent: 0, MOS: stats.MOS(4, 2, 0)},
			ok:   true,
		},
		{name: "nothing received in the interval", prev: sample(100, 0, 0.002), cur: sample(100, 0, 0.002)},
		{name: "no inbound stream yet", cur: []stats.Object{{"id": "sdk", "type": "callstat_sdk_info"}}},
		{
			name: "no round-trip time yet",
			cur:  []stats.Object{{"id": "IN", "type": "inbound-rtp", "packetsReceived": 10.0, "packetsLost": 0.0, "jitter": 0.001}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := stats.IntervalQuality(tt.prev, tt.cur)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
			if !near(got.MOS, tt.want.MOS) || !near(got.RTTMs, tt.want.RTTMs) || !near(got.JitterMs, tt.want.JitterMs) ||
				!near(got.LossPercent, tt.want.LossPercent) {
				t.Errorf("quality = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestQualitySetOn(t *testing.T) {
	e := stats.Object{}
	stats.Quality{MOS: 4.123456, RTTMs: 12.34567, JitterMs: 0.0004, LossPercent: 1.0006}.SetOn(e)
	want := stats.Object{"mos": 4.123, "rttMs": 12.346, "jitterMs": 0.0, "intervalLossPercent": 1.001}
	for k, v := range want {
		if got, _ := e.Number(k); math.Abs(got-v.(float64)) > 1e-12 {
			t.Errorf("%s = %v, want %v", k, e[k], v)
		}
	}
}
