// Package runreport is the machine-readable account of one callstat
// command (a call, a load run, an answerer's session): what ran, each
// call's figures, the quality gates with what was measured against which
// limit, the failures with their reasons, and the exit code. It is written
// as JSON (--report, the schema in docs/reports.md) and as JUnit XML
// (--junit) for the CI systems that read test results.
package runreport

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/callstat/callstat/pkg/stats/report"
)

// Schema and SchemaVersion identify the JSON format. The version changes
// when a field is removed or changes meaning; fields may be added within
// a version, so readers ignore what they do not know.
const (
	Schema        = "callstat-run-report"
	SchemaVersion = 1
)

// Outcome is how a call, or the whole command, went.
type Outcome string

// Outcomes.
const (
	Passed   Outcome = "passed"   // exit code 0
	Failed   Outcome = "failed"   // a call failed or the command could not run
	Breached Outcome = "breached" // every call went well but a gate was breached (exit 13)
)

// GateOutcome is how one gate came out.
type GateOutcome string

// Gate outcomes.
const (
	GatePassed   GateOutcome = "passed"
	GateBreached GateOutcome = "breached"
	// GateSkipped: the gate was not applied because the call or run failed
	// (a failure's exit code outranks a breach); what it would have
	// measured is still reported.
	GateSkipped GateOutcome = "skipped"
)

// Report is one command's account. Slices are never null in JSON.
type Report struct {
	Schema        string `json:"schema"`
	SchemaVersion int    `json:"schemaVersion"`
	Tool          Tool   `json:"tool"`
	Run           Run    `json:"run"`

	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt"`
	ElapsedMs float64   `json:"elapsedMs"`
	// Interrupted: SIGINT or SIGTERM stopped the command (for answer,
	// the normal way to stop).
	Interrupted bool `json:"interrupted"`

	Outcome  Outcome `json:"outcome"`
	ExitCode int     `json:"exitCode"`
	// ExitReason names the exit code: "ok", "media_failure", "assertion",
	// ... (docs/reports.md has the table).
	ExitReason string `json:"exitReason"`
	// Error is the command's final error line, as printed on stderr.
	Error string `json:"error,omitempty"`

	Calls []Call `json:"calls"`
	// Load is a load run's summary (nil otherwise): what "callstat call
	// --calls" prints at the end.
	Load     *Load     `json:"load,omitempty"`
	Gates    []Gate    `json:"gates"`
	Failures []Failure `json:"failures"`
}

// Tool is the program that wrote the report.
type Tool struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Hostname string `json:"hostname,omitempty"`
}

// Command names.
const (
	CommandCall   = "call"
	CommandAnswer = "answer"
)

// Modes of a command.
const (
	ModeSingle = "single" // call: one call
	ModeLoad   = "load"   // call --calls/--concurrency/--ramp
	ModeAnswer = "answer" // answer: every call that came in
)

// Run is what was asked for. Settings that do not apply are left out.
type Run struct {
	Command     string `json:"command"`
	Mode        string `json:"mode"`
	Participant string `json:"participant"`
	Callee      string `json:"callee,omitempty"`
	Server      string `json:"server"`
	Store       string `json:"store"`
	Audio       string `json:"audio"`
	IntervalMs  int64  `json:"intervalMs"`
	// DurationMs is --duration: how long each call is held once
	// connected (0: until the far end or a signal).
	DurationMs      int64   `json:"durationMs"`
	AnswerTimeoutMs int64   `json:"answerTimeoutMs,omitempty"`
	Calls           int     `json:"calls,omitempty"`
	Concurrency     int     `json:"concurrency,omitempty"`
	RampPerSecond   float64 `json:"rampPerSecond,omitempty"`
	MaxCalls        int     `json:"maxCalls,omitempty"`
	// Assert is --assert as given ("" for none).
	Assert string `json:"assert,omitempty"`
}

// Call is one call: its summary (the row "callstat summary" shows, every
// figure null when it was never measured) and how it went.
type Call struct {
	report.CallSummary
	Outcome Outcome `json:"outcome"` // passed or failed
	// ExitCode is the code this call alone would make the command exit
	// with (0 when it went well).
	ExitCode int `json:"exitCode"`
	// Failure says why it failed; nil when it passed.
	Failure *Failure `json:"failure,omitempty"`
}

// Failure is one reason the command did not pass, other than a gate: a
// call that failed, or the run itself (calls not placed, stats lost).
type Failure struct {
	// CallID is the call's ("" for the run).
	CallID string `json:"callId,omitempty"`
	// Kind names the failure as the exit code does: "media_failure",
	// "peer_lost", "store", ...
	Kind     string `json:"kind"`
	ExitCode int    `json:"exitCode"`
	// StatusCode and Reason are how the call ended (0 and "" for the run).
	StatusCode int    `json:"statusCode,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Message    string `json:"message"`
}

// Gate is one --assert condition checked against a call (single mode) or
// against the run as a whole (load mode).
type Gate struct {
	// Assertion is the condition as written, e.g. "rtt<=150ms".
	Assertion string  `json:"assertion"`
	Metric    string  `json:"metric"`              // mos, loss, rtt, jitter, setup
	Statistic string  `json:"statistic,omitempty"` // min, mean, p50, p95; none for loss and setup
	Operator  string  `json:"operator"`            // <=, <, >=, >
	Limit     float64 `json:"limit"`
	// Unit is that of Limit and Measured: "ms", "%" or "" (MOS).
	Unit string `json:"unit"`
	// Subject is "call" (CallID says which) or "run" (every call of a
	// load run taken together).
	Subject  string      `json:"subject"`
	CallID   string      `json:"callId,omitempty"`
	Measured *float64    `json:"measured"` // null: never measured (which breaches)
	Outcome  GateOutcome `json:"outcome"`
	// Message is the line the breach is reported with on stderr, e.g.
	// "call 3f2c…: rtt p95 is 212.3 ms, limit <= 150.0 ms (rtt<=150ms)".
	Message string `json:"message"`
}

// Gate subjects.
const (
	SubjectCall = "call"
	SubjectRun  = "run"
)

// NewGate makes a gate from an assertion checked against a summary;
// applied says whether the command applied it (it does not once a call or
// the run has failed), subject whether the summary is a call's or a
// run's.
func NewGate(r report.Result, subject string, applied bool) Gate {
	a := r.Assertion
	g := Gate{
		Assertion: a.Text, Metric: a.Metric, Statistic: a.Stat, Operator: a.Op, Limit: a.Limit, Unit: a.Unit(),
		Subject: subject, CallID: r.CallID, Measured: r.Measured, Message: r.String(),
	}
	switch {
	case !applied:
		g.Outcome = GateSkipped
	case r.Passed:
		g.Outcome = GatePassed
	default:
		g.Outcome = GateBreached
	}
	return g
}

// Load is a load run's summary: the figures across its calls
// (report.LoadSummary), what was asked, what the process used, and the
// failed calls grouped by how they ended.
type Load struct {
	report.LoadSummary
	Calls               int            `json:"calls"`
	Concurrency         int            `json:"concurrency"`
	RampPerSecond       float64        `json:"rampPerSecond,omitempty"`
	ElapsedMs           float64        `json:"elapsedMs"`
	CPUSeconds          float64        `json:"cpuSeconds"`
	CPUPercentOfOneCore float64        `json:"cpuPercentOfOneCore"`
	PeakRSSBytes        int64          `json:"peakRssBytes"` // -1: unknown
	FailureGroups       []FailureGroup `json:"failureGroups"`
}

// FailureGroup counts the calls of a load run that failed the same way.
type FailureGroup struct {
	Count      int    `json:"count"`
	StatusCode int    `json:"statusCode"`
	Reason     string `json:"reason"`
}

// New starts a report of run, begun at start.
func New(tool Tool, run Run, start time.Time) *Report {
	return &Report{
		Schema: Schema, SchemaVersion: SchemaVersion, Tool: tool, Run: run, StartedAt: start,
		Calls: []Call{}, Gates: []Gate{}, Failures: []Failure{},
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "rtt<=150ms" stays readable
	return enc.Encode(r)
}

// ReadJSON reads a report and checks that it is one this package
// understands: the schema name, and a version no newer than
// SchemaVersion.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("%w: schema %q, want %q", ErrFormat, r.Schema, Schema)
	}
	if r.SchemaVersion < 1 || r.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("%w: schema version %d; this callstat reads 1 to %d", ErrFormat, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}
