package load

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/callstat/callstat/pkg/stats/report"
)

// Report is a run's summary: the calls' figures across the run
// (report.SummarizeLoad), what was asked, what the process used, and the
// failures grouped by how the calls ended. It is "callstat call --calls"'s
// "load summary".
type Report struct {
	report.LoadSummary
	Calls        int            `json:"calls"`
	Concurrency  int            `json:"concurrency"`
	Ramp         float64        `json:"rampPerSecond,omitempty"`
	Elapsed      time.Duration  `json:"-"`
	CPU          time.Duration  `json:"-"`
	PeakRSSBytes int64          `json:"peakRssBytes"`
	Failures     []FailureGroup `json:"failures"`
}

// FailureGroup counts the calls that failed the same way.
type FailureGroup struct {
	Count      int    `json:"count"`
	StatusCode int    `json:"statusCode"`
	Reason     string `json:"reason"`
}

// Report sums the run up.
func (r *Result) Report() Report {
	sums := make([]report.LoadCall, len(r.Results))
	for i, c := range r.Results {
		sums[i] = c.LoadCall
	}
	return Report{
		LoadSummary: report.SummarizeLoad(sums),
		Calls:       r.Calls, Concurrency: r.Concurrency, Ramp: r.RampPerSec,
		Elapsed: r.Elapsed, CPU: r.CPU, PeakRSSBytes: r.PeakRSSBytes,
		Failures: failureGroups(r.Results),
	}
}

// failureGroups groups the failed calls by status code and reason, the
// largest group first.
func failureGroups(calls []Call) []FailureGroup {
	var out []FailureGroup
	for _, c := range calls {
		if c.Err == nil {
			continue
		}
		i := slices.IndexFunc(out, func(g FailureGroup) bool {
			return g.StatusCode == c.StatusCode && g.Reason == c.Reason
		})
		if i < 0 {
			out = append(out, FailureGroup{StatusCode: c.StatusCode, Reason: c.Reason})
			i = len(out) - 1
		}
		out[i].Count++
	}
	slices.SortStableFunc(out, func(a, b FailureGroup) int { return b.Count - a.Count })
	return out
}

// MarshalJSON adds the durations in the units the other figures use.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		plain
		ElapsedMs  float64 `json:"elapsedMs"`
		CPUSeconds float64 `json:"cpuSeconds"`
		CPUPercent float64 `json:"cpuPercentOfOneCore"`
	}{plain(r), float64(r.Elapsed) / 1e6, r.CPU.Seconds(), r.CPUPercent()})
}

// CPUPercent is the CPU time over the time elapsed, in percent of one
// core.
func (r Report) CPUPercent() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return 100 * r.CPU.Seconds() / r.Elapsed.Seconds()
}
