package runreport

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The JUnit XML written by WriteJUnit follows the schema Jenkins' xUnit
// plugin validates against (testdata/junit/junit-10.xsd) and what GitLab
// reads (docs/reports.md): one <testsuites> holding one <testsuite> for the
// command, with a <testcase> per call, per gate, and one for the exit
// code. Names are stable from run to run (no call ids), so that CI systems
// can follow a test case across pipelines; the ids are in the output.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr,omitempty"`
	Properties junitProperties `xml:"properties"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperties struct {
	Props []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// junitProblem is a failure, error or skipped element. GitLab shows the
// element's text, Jenkins its message attribute: both carry the message.
type junitProblem struct {
	Type    string `xml:"type,attr,omitempty"`
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// Classnames of the test cases.
const (
	classGate = "callstat.gate"
	classRun  = "callstat.run"
)

// seconds formats a duration in seconds as the schema's SUREFIRE_TIME
// wants: digits, a point, digits.
func seconds(s float64) string {
	if s < 0 {
		s = 0
	}
	return strconv.FormatFloat(s, 'f', 3, 64)
}

// WriteJUnit writes the report as JUnit XML.
func (r *Report) WriteJUnit(w io.Writer) error {
	suite := junitSuite{
		Name:      "callstat " + r.Run.Command,
		Time:      seconds(r.ElapsedMs / 1000),
		Timestamp: r.StartedAt.UTC().Format(time.RFC3339),
		Hostname:  r.Tool.Hostname,
	}
	if r.Run.Mode == ModeLoad {
		suite.Name += " (load)"
	}
	for _, p := range r.properties() {
		suite.Properties.Props = append(suite.Properties.Props, junitProperty{Name: p[0], Value: p[1]})
	}
	for i, c := range r.Calls {
		suite.Cases = append(suite.Cases, r.callCase(i, c))
	}
	for i, g := range r.Gates {
		suite.Cases = append(suite.Cases, r.gateCase(i, g))
	}
	suite.Cases = append(suite.Cases, r.exitCase())
	for _, c := range suite.Cases {
		suite.Tests++
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Error != nil:
			suite.Errors++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	doc := junitSuites{
		Name: "callstat", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Time: suite.Time,
		Suites: []junitSuite{suite},
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// properties describe the run in the suite's <properties>.
func (r *Report) properties() [][2]string {
	run := r.Run
	props := [][2]string{
		{"callstat.version", r.Tool.Version},
		{"callstat.report.schemaVersion", strconv.Itoa(r.SchemaVersion)},
		{"command", run.Command},
		{"mode", run.Mode},
		{"participant", run.Participant},
	}
	add := func(name, value string) {
		if value != "" {
			props = append(props, [2]string{name, value})
		}
	}
	add("callee", run.Callee)
	add("server", run.Server)
	add("audio", run.Audio)
	add("assert", run.Assert)
	if run.Calls > 0 {
		add("calls", strconv.Itoa(run.Calls))
		add("concurrency", strconv.Itoa(run.Concurrency))
	}
	props = append(props, [2]string{"exitCode", strconv.Itoa(r.ExitCode)}, [2]string{"interrupted", strconv.FormatBool(r.Interrupted)})
	return props
}

// callName names a call by its place in the run and its parties.
func (r *Report) callName(i int, c Call) string {
	arrow := "->"
	if c.Direction == "incoming" {
		arrow = "<-"
	}
	return fmt.Sprintf("call %d: %s %s %s", i+1, c.Participant, arrow, c.Peer)
}

func (r *Report) callCase(i int, c Call) junitCase {
	tc := junitCase{Name: r.callName(i, c), Classname: "callstat." + r.Run.Command}
	var secs float64
	if c.SetupMs != nil {
		secs += *c.SetupMs / 1000
	}
	if c.DurationMs != nil {
		secs += *c.DurationMs / 1000
	}
	tc.Time = seconds(secs)
	tc.SystemOut = callText(c)
	if f := c.Failure; f != nil {
		msg := f.Message
		if f.StatusCode != 0 || f.Reason != "" {
			msg = fmt.Sprintf("%d %s: %s", f.StatusCode, f.Reason, f.Message)
		}
		p := &junitProblem{Type: f.Kind, Message: msg, Text: msg + "\n" + tc.SystemOut}
		if IsError(f.Kind) {
			tc.Error = p
		} else {
			tc.Failure = p
		}
	}
	return tc
}

// callText is a call's id, end and figures, for people reading a CI page.
func callText(c Call) string {
	var b strings.Builder
	fmt.Fprintf(&b, "call id %s, %s %s, ended %s %d %s\n", c.CallID, c.Direction, c.Peer, orNone(c.EndState), c.StatusCode, c.Reason)
	fmt.Fprintf(&b, "setup %s, duration %s, samples %d\n", fig(c.SetupMs, "ms"), fig(c.DurationMs, "ms"), c.Samples)
	fmt.Fprintf(&b, "packets sent %.0f, received %.0f, lost %.0f (%s)\n", c.PacketsSent, c.PacketsReceived, c.PacketsLost, fig(c.LossPercent, "%"))
	fmt.Fprintf(&b, "jitter p50 %s p95 %s, rtt p50 %s p95 %s, mos min %s mean %s",
		fig(c.JitterP50Ms, "ms"), fig(c.JitterP95Ms, "ms"), fig(c.RTTP50Ms, "ms"), fig(c.RTTP95Ms, "ms"), fig(c.MOSMin, ""), fig(c.MOSMean, ""))
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(not ended)"
	}
	return s
}

func fig(v *float64, unit string) string {
	if v == nil {
		return "n/a"
	}
	s := strconv.FormatFloat(*v, 'f', 2, 64)
	if unit != "" {
		s += " " + unit
	}
	return s
}

func (r *Report) gateCase(i int, g Gate) junitCase {
	name := "gate " + g.Assertion
	if g.Subject == SubjectCall {
		// Calls are named by their place in the run, as their own cases.
		for j, c := range r.Calls {
			if c.CallID == g.CallID {
				name += fmt.Sprintf(" (call %d)", j+1)
				break
			}
		}
	} else {
		name += " (all calls)"
	}
	// The same condition written twice must still make two cases.
	for _, other := range r.Gates[:i] {
		if other.Assertion == g.Assertion && other.CallID == g.CallID {
			name += fmt.Sprintf(" #%d", i+1)
			break
		}
	}
	tc := junitCase{Name: name, Classname: classGate, Time: seconds(0), SystemOut: g.Message}
	switch g.Outcome {
	case GateBreached:
		tc.Failure = &junitProblem{Type: KindAssertion, Message: g.Message, Text: g.Message}
	case GateSkipped:
		msg := "not applied: the call failed, and a failure outranks a breach; " + g.Message
		if g.Subject == SubjectRun {
			msg = "not applied: the run failed, and a failure outranks a breach; " + g.Message
		}
		tc.Skipped = &junitProblem{Message: msg, Text: msg}
	}
	return tc
}

// exitCase is the command's verdict: it fails when the exit code is not
// 0, with every reason.
func (r *Report) exitCase() junitCase {
	tc := junitCase{Name: "exit code", Classname: classRun, Time: seconds(r.ElapsedMs / 1000)}
	tc.SystemOut = fmt.Sprintf("exit code %d (%s)", r.ExitCode, r.ExitReason)
	if r.Interrupted {
		tc.SystemOut += ", interrupted by a signal"
	}
	if r.ExitCode == 0 {
		return tc
	}
	msg := fmt.Sprintf("exit code %d (%s)", r.ExitCode, r.ExitReason)
	if r.Error != "" {
		msg += ": " + r.Error
	}
	text := []string{msg}
	for _, f := range r.Failures {
		if f.CallID == "" {
			text = append(text, f.Kind+": "+f.Message)
		}
	}
	p := &junitProblem{Type: r.ExitReason, Message: msg, Text: strings.Join(text, "\n")}
	if IsError(r.ExitReason) {
		tc.Error = p
	} else {
		tc.Failure = p
	}
	return tc
}
