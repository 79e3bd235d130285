package report

import (
	"math"
	"testing"
)

func TestSummarizeLoad(t *testing.T) {
	call := func(setup, lost, received float64, mosMin, mosMean float64, jit50, jit95 float64) LoadCall {
		return LoadCall{CallSummary: CallSummary{SetupMs: ptr(setup),
			MediaFigures: MediaFigures{PacketsSent: 1000, PacketsReceived: received, PacketsLost: lost, LossPercent: ptr(0), JitterP50Ms: ptr(jit50), JitterP95Ms: ptr(jit95),
				RTTP50Ms: ptr(1), RTTP95Ms: ptr(2), MOSMin: ptr(mosMin), MOSMean: ptr(mosMean)}}, PacketsExpected: 1000, RemotePacketsLost: 1}
	}
	failed := LoadCall{CallSummary: CallSummary{Error: "callee not found", StatusCode: 404}}
	calls := []LoadCall{failed}
	for i := range 20 {
		calls = append(calls, call(float64(i+1), 0, 1000, 4.4, 4.43, 1, 2+float64(i)))
	}
	calls = append(calls, call(100, 10, 990, 3.1, 4.0, 5, 50))
	l := SummarizeLoad(calls)
	if l.Placed != 22 || l.Connected != 21 || l.Failed != 1 {
		t.Errorf("placed %d, connected %d, failed %d; want 22, 21, 1", l.Placed, l.Connected, l.Failed)
	}
	for name, got := range map[string]*float64{"setup p50": l.SetupP50Ms, "setup p95": l.SetupP95Ms, "setup max": l.SetupMaxMs} {
		if got == nil {
			t.Fatalf("%s missing", name)
		}
	}
	if *l.SetupP50Ms != 11 || *l.SetupP95Ms != 20 || *l.SetupP99Ms != 100 || *l.SetupMaxMs != 100 {
		t.Errorf("setup p50 %v, p95 %v, p99 %v, max %v; want 11, 20, 100, 100", *l.SetupP50Ms, *l.SetupP95Ms, *l.SetupP99Ms, *l.SetupMaxMs)
	}
	if l.PacketsExpected != 21000 || l.PacketsReceived != 20990 || l.PacketsLost != 10 || l.RemotePacketsLost != 21 {
		t.Errorf("packets expected %v, received %v, lost %v, far end lost %v", l.PacketsExpected, l.PacketsReceived, l.PacketsLost, l.RemotePacketsLost)
	}
	if math.Abs(*l.LossPercent-100*10.0/21000) > 1e-9 || math.Abs(*l.ReceivedPercent-100*20990.0/21000) > 1e-9 || *l.SentPercent != 100 {
		t.Errorf("loss %v %%, received %v %%, sent %v %%", *l.LossPercent, *l.ReceivedPercent, *l.SentPercent)
	}
	// Across calls: the worst interval of any call, the mean of means, the
	// median call's p50 and the 95th-percentile call's p95.
	if *l.MOSMin != 3.1 || math.Abs(*l.MOSMean-(20*4.43+4.0)/21) > 1e-9 || *l.JitterP50Ms != 1 || *l.JitterP95Ms != 21 {
		t.Errorf("mos min %v, mean %v, jitter p50 %v, p95 %v", *l.MOSMin, *l.MOSMean, *l.JitterP50Ms, *l.JitterP95Ms)
	}
	row := l.AsCallSummary()
	if row.CallID != "" || *row.SetupMs != 20 || row.LossPercent != l.LossPercent {
		t.Errorf("the run as a row: %+v", row)
	}
	if b := (Assertions{{Metric: "setup", Op: "<=", Limit: 10, Text: "setup<=10ms"}}).Check(row); len(b) != 1 ||
		b[0].String() != "all calls: setup is 20.0 ms, limit <= 10.0 ms (setup<=10ms)" {
		t.Errorf("breach %v", b)
	}

	none := SummarizeLoad([]LoadCall{failed})
	if none.SetupP50Ms != nil || none.LossPercent != nil || none.MOSMin != nil || none.ReceivedPercent != nil {
		t.Errorf("a run without a connected call measured something: %+v", none)
	}
}
