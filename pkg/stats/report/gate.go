package report

// Result is one assertion checked against one summary: what was
// measured, and whether it held. A run's report lists every result, the
// gates that held as well as those breached.
type Result struct {
	Breach      // the call, the assertion and the measured value
	Passed bool // the assertion held
}

// Evaluate checks every assertion against s, in the order written, and
// returns each result, held or not. A figure that was never measured does
// not pass, as in Check.
func (as Assertions) Evaluate(s CallSummary) []Result {
	out := make([]Result, 0, len(as))
	for _, a := range as {
		v := a.Measure(s)
		out = append(out, Result{Breach: Breach{CallID: s.CallID, Assertion: a, Measured: v}, Passed: v != nil && a.holds(*v)})
	}
	return out
}

// Measure is the figure of s that the assertion limits, in its unit (nil
// when it was never measured).
func (a Assertion) Measure(s CallSummary) *float64 {
	m, ok := metrics[a.Metric]
	if !ok {
		return nil
	}
	return m.value(s, a.Stat)
}

// Unit is the unit of the assertion's limit and measured value: "ms",
// "%", or "" for a plain number (MOS).
func (a Assertion) Unit() string { return metrics[a.Metric].unit }
