package report_test

import (
	"testing"

	"github.com/callstat/callstat/pkg/stats/report"
)

// Evaluate gives every assertion's result, held or not, with the figure
// measured; a figure never measured does not pass.
func TestEvaluate(t *testing.T) {
	as, err := report.ParseAssertions("rtt<=150ms,mos>=4.5,loss<=1%,jitter.p50<0.01s,setup<=50ms")
	if err != nil {
		t.Fatal(err)
	}
	v := func(x float64) *float64 { return &x }
	s := report.CallSummary{CallID: "c1", SetupMs: v(12), MediaFigures: report.MediaFigures{
		RTTP95Ms: v(40), MOSMin: v(4.1), LossPercent: v(0.5), JitterP50Ms: v(20)}}
	want := []struct {
		passed   bool
		measured *float64
		unit     string
	}{{true, v(40), "ms"}, {false, v(4.1), ""}, {true, v(0.5), "%"}, {false, v(20), "ms"}, {true, v(12), "ms"}}
	got := as.Evaluate(s)
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		if r.Passed != w.passed || r.Measured == nil || *r.Measured != *w.measured || r.CallID != "c1" || r.Assertion.Unit() != w.unit {
			t.Errorf("%s: passed %v measured %v unit %q, want %v %v %q", r.Assertion.Text, r.Passed, r.Measured, r.Assertion.Unit(), w.passed, *w.measured, w.unit)
		}
	}
	// The breaches Evaluate finds are those Check finds.
	var breached int
	for _, r := range got {
		if !r.Passed {
			breached++
		}
	}
	if n := len(as.Check(s)); n != breached {
		t.Errorf("Check finds %d breaches, Evaluate %d", n, breached)
	}
	// Never measured: not passed, nil.
	if r := as[1:2].Evaluate(report.CallSummary{}); r[0].Passed || r[0].Measured != nil {
		t.Errorf("unmeasured MOS: %+v, want not passed and nil", r[0])
	}
}
