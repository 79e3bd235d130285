package runreport_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/junitcheck"
	"github.com/callstat/callstat/internal/testkit/testdata"
	"github.com/callstat/callstat/pkg/runreport"
	"github.com/callstat/callstat/pkg/stats/report"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func f(v float64) *float64 { return &v }

func call(id, dir, peer string, status int, reason string, setup, dur float64) report.CallSummary {
	return report.CallSummary{
		CallID: id, Participant: "bob@example.com", Direction: dir, Peer: peer, Start: t0,
		SetupMs: f(setup), DurationMs: f(dur), EndState: "Ended", StatusCode: status, Reason: reason, Samples: 11,
		MediaFigures: report.MediaFigures{PacketsSent: 500, PacketsReceived: 498, PacketsLost: 2, LossPercent: f(0.4),
			JitterP50Ms: f(1.5), JitterP95Ms: f(3.2), RTTP50Ms: f(12), RTTP95Ms: f(40.5), MOSMin: f(4.1), MOSMean: f(4.3)},
	}
}

func assertions(t *testing.T, expr string) report.Assertions {
	t.Helper()
	as, err := report.ParseAssertions(expr)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func gates(t *testing.T, expr string, sum report.CallSummary, subject string, applied bool) []runreport.Gate {
	t.Helper()
	var out []runreport.Gate
	for _, r := range assertions(t, expr).Evaluate(sum) {
		out = append(out, runreport.NewGate(r, subject, applied))
	}
	return out
}

func newReport(run runreport.Run) *runreport.Report {
	r := runreport.New(runreport.Tool{Name: "callstat", Version: "1.2.3", Commit: "abc", Hostname: "ci-7"}, run, t0)
	r.EndedAt = t0.Add(12500 * time.Millisecond)
	r.ElapsedMs = 12500
	return r
}

var singleRun = runreport.Run{Command: runreport.CommandCall, Mode: runreport.ModeSingle, Participant: "bob@example.com",
	Callee: "alice@example.com", Server: "ws://127.0.0.1:8080/ws", Store: "bob.db", Audio: "tone", IntervalMs: 1000,
	DurationMs: 10000, AnswerTimeoutMs: 60000, Assert: "rtt<=150ms,mos>=4.5"}

// samples are reports of every shape a command ends with.
func samples(t *testing.T) map[string]*runreport.Report {
	t.Helper()
	out := map[string]*runreport.Report{}

	// One call that went well but breached a gate.
	r := newReport(singleRun)
	c := call("3f2c8a4e-0000-4000-8000-000000000001", "outgoing", "alice@example.com", 200, "call duration 10s reached", 12.5, 10003)
	r.Calls = append(r.Calls, runreport.Call{CallSummary: c, Outcome: runreport.Passed})
	r.Gates = gates(t, singleRun.Assert, c, runreport.SubjectCall, true)
	r.Outcome, r.ExitCode, r.ExitReason = runreport.Breached, 13, runreport.KindAssertion
	r.Error = "quality assertion breached: 1 breach(es) of --assert"
	out["breached"] = r

	// A call that failed mid-call: the gate was not applied.
	r = newReport(singleRun)
	c = call("3f2c8a4e-0000-4000-8000-000000000002", "outgoing", "alice@example.com", 480, "callee disconnected", 10, 4000)
	c.Error = "the other party vanished"
	fail := runreport.Failure{CallID: c.CallID, Kind: runreport.KindPeerLost, ExitCode: 8, StatusCode: 480,
		Reason: "callee disconnected", Message: "call " + c.CallID + ": the other party vanished"}
	r.Calls = append(r.Calls, runreport.Call{CallSummary: c, Outcome: runreport.Failed, ExitCode: 8, Failure: &fail})
	r.Failures = append(r.Failures, fail)
	r.Gates = gates(t, "rtt<=150ms", c, runreport.SubjectCall, false)
	r.Outcome, r.ExitCode, r.ExitReason, r.Error = runreport.Failed, 8, runreport.KindPeerLost, fail.Message
	out["failed call"] = r

	// Nothing got as far as a call: a run failure, an error kind.
	r = newReport(singleRun)
	r.Failures = append(r.Failures, runreport.Failure{Kind: runreport.KindStore, ExitCode: 11, Message: "cannot open the stats store"})
	r.Outcome, r.ExitCode, r.ExitReason, r.Error = runreport.Failed, 11, runreport.KindStore, "cannot open the stats store"
	out["no call"] = r

	// A load run: one call rejected, one not placed, gates on the run.
	run := singleRun
	run.Mode, run.Calls, run.Concurrency, run.RampPerSecond, run.Assert = runreport.ModeLoad, 3, 2, 5, "setup<=50ms,loss<=1%"
	r = newReport(run)
	c1 := call("3f2c8a4e-0000-4000-8000-000000000003", "outgoing", "alice@example.com", 200, "call duration 10s reached", 9, 10000)
	c2 := report.CallSummary{CallID: "3f2c8a4e-0000-4000-8000-000000000004", Participant: "bob@example.com", Direction: "outgoing",
		Peer: "alice@example.com", Start: t0, EndState: "Ended", StatusCode: 486, Reason: "busy", Error: "rejected"}
	rej := runreport.Failure{CallID: c2.CallID, Kind: runreport.KindRejected, ExitCode: 5, StatusCode: 486, Reason: "busy", Message: "rejected"}
	r.Calls = append(r.Calls, runreport.Call{CallSummary: c1, Outcome: runreport.Passed},
		runreport.Call{CallSummary: c2, Outcome: runreport.Failed, ExitCode: 5, Failure: &rej})
	stopped := runreport.Failure{Kind: runreport.KindInterrupted, ExitCode: 7, Message: "interrupted: load run stopped after placing 2 of 3 calls"}
	r.Failures = append(r.Failures, rej, stopped)
	sum := report.SummarizeLoad([]report.LoadCall{{CallSummary: c1, PacketsExpected: 500}, {CallSummary: c2}})
	r.Load = &runreport.Load{LoadSummary: sum, Calls: 3, Concurrency: 2, RampPerSecond: 5, ElapsedMs: 12500, CPUSeconds: 1.5,
		CPUPercentOfOneCore: 12, PeakRSSBytes: 64 << 20, FailureGroups: []runreport.FailureGroup{{Count: 1, StatusCode: 486, Reason: "busy"}}}
	r.Gates = gates(t, run.Assert, sum.AsCallSummary(), runreport.SubjectRun, false)
	r.Interrupted = true
	r.Outcome, r.ExitCode, r.ExitReason, r.Error = runreport.Failed, 7, runreport.KindInterrupted, "2 of 2 calls failed"
	out["load"] = r

	// An answerer stopped by a signal after two calls, one incoming
	// that never connected.
	run = runreport.Run{Command: runreport.CommandAnswer, Mode: runreport.ModeAnswer, Participant: "alice@example.com",
		Server: "ws://127.0.0.1:8080/ws", Store: "alice.db", Audio: "tone:1000", IntervalMs: 1000}
	r = newReport(run)
	in := call("3f2c8a4e-0000-4000-8000-000000000005", "incoming", "bob@example.com", 200, "caller hung up", 8, 5000)
	in.Participant = "alice@example.com"
	cancelled := report.CallSummary{CallID: "3f2c8a4e-0000-4000-8000-000000000006", Participant: "alice@example.com",
		Direction: "incoming", Peer: "bob@example.com", Start: t0, EndState: "Cancelled", StatusCode: 487, Reason: "cancelled"}
	r.Calls = append(r.Calls, runreport.Call{CallSummary: in, Outcome: runreport.Passed}, runreport.Call{CallSummary: cancelled, Outcome: runreport.Passed})
	r.Interrupted = true
	r.Outcome, r.ExitReason = runreport.Passed, runreport.KindOK
	out["answer"] = r
	return out
}

// Every report survives JSON: what is read back equals what was written.
func TestJSONRoundTrip(t *testing.T) {
	for name, r := range samples(t) {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := r.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
			got, err := runreport.ReadJSON(&b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				a, _ := json.Marshal(r)
				g, _ := json.Marshal(got)
				t.Errorf("round trip changed the report:\nwrote %s\nread  %s", a, g)
			}
		})
	}
}

// The JSON names things as docs/reports.md says, never null where a list
// is expected, and keeps "<=" readable.
func TestJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := samples(t)["no call"].WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"calls", "gates", "failures"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("%s = %v, want a list", k, m[k])
		}
	}
	if m["schema"] != runreport.Schema || m["schemaVersion"] != float64(runreport.SchemaVersion) || m["exitCode"] != float64(11) {
		t.Errorf("schema %v v%v exit %v", m["schema"], m["schemaVersion"], m["exitCode"])
	}
	b.Reset()
	if err := samples(t)["breached"].WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"assertion": "rtt<=150ms"`) {
		t.Errorf("assertion not written as given:\n%s", b.String())
	}
}

func TestReadJSONRefuses(t *testing.T) {
	for _, tt := range []struct{ name, body, want string }{
		{"not JSON", "<xml/>", "invalid character"},
		{"another schema", `{"schema":"k6-summary","schemaVersion":1}`, `schema "k6-summary"`},
		{"newer version", `{"schema":"callstat-run-report","schemaVersion":99}`, "schema version 99"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runreport.ReadJSON(strings.NewReader(tt.body))
			if !errors.Is(err, runreport.ErrFormat) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrFormat with %q", err, tt.want)
			}
		})
	}
}

// The example in docs/reports.md is a report as this version writes it:
// every field it shows exists, and it reads back.
func TestDocumentedExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testdata.Root(t), "docs", "reports.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("docs/reports.md has no ```json example")
	}
	for i, b := range blocks {
		dec := json.NewDecoder(bytes.NewReader(b[1]))
		dec.DisallowUnknownFields()
		var r runreport.Report
		if err := dec.Decode(&r); err != nil {
			t.Errorf("example %d: %v", i+1, err)
			continue
		}
		if _, err := runreport.ReadJSON(bytes.NewReader(b[1])); err != nil {
			t.Errorf("example %d: %v", i+1, err)
		}
	}
}

// Every report makes JUnit that the Jenkins schema accepts and GitLab
// reads: a case per call, per gate and for the exit code, with the
// measured value and the limit of a breached gate, and the status code
// and reason of a failed call.
func TestJUnit(t *testing.T) {
	type want struct {
		cases   int
		status  map[string]string // case name -> GitLab status
		message map[string]string // case name -> text its problem must contain
	}
	tests := map[string]want{
		"breached": {cases: 4, status: map[string]string{
			"call 1: bob@example.com -> alice@example.com": "success", "gate rtt<=150ms (call 1)": "success",
			"gate mos>=4.5 (call 1)": "failed", "exit code": "failed"},
			message: map[string]string{"gate mos>=4.5 (call 1)": "mos min is 4.10, limit >= 4.50 (mos>=4.5)",
				"exit code": "exit code 13 (assertion)"}},
		"failed call": {cases: 3, status: map[string]string{
			"call 1: bob@example.com -> alice@example.com": "failed", "gate rtt<=150ms (call 1)": "skipped", "exit code": "failed"},
			message: map[string]string{"call 1: bob@example.com -> alice@example.com": "480 callee disconnected: call 3f2c8a4e",
				"gate rtt<=150ms (call 1)": "not applied"}},
		"no call": {cases: 1, status: map[string]string{"exit code": "error"},
			message: map[string]string{"exit code": "exit code 11 (store): cannot open the stats store"}},
		"load": {cases: 5, status: map[string]string{
			"call 1: bob@example.com -> alice@example.com": "success", "call 2: bob@example.com -> alice@example.com": "failed",
			"gate setup<=50ms (all calls)": "skipped", "gate loss<=1% (all calls)": "skipped", "exit code": "failed"},
			message: map[string]string{"call 2: bob@example.com -> alice@example.com": "486 busy",
				"exit code": "stopped after placing 2 of 3 calls"}},
		"answer": {cases: 3, status: map[string]string{
			"call 1: alice@example.com <- bob@example.com": "success", "call 2: alice@example.com <- bob@example.com": "success",
			"exit code": "success"}},
	}
	reports := samples(t)
	for name, w := range tests {
		t.Run(name, func(t *testing.T) {
			r := reports[name]
			var b bytes.Buffer
			if err := r.WriteJUnit(&b); err != nil {
				t.Fatal(err)
			}
			doc := junitcheck.Check(t, b.Bytes())
			if len(doc.Suites) != 1 {
				t.Fatalf("%d suites, want 1", len(doc.Suites))
			}
			s := doc.Suites[0]
			if len(s.Cases) != w.cases {
				t.Errorf("%d cases, want %d", len(s.Cases), w.cases)
			}
			if s.Property("exitCode") == "" || s.Property("callstat.version") != "1.2.3" {
				t.Errorf("properties %v", s.Properties)
			}
			for _, c := range s.Cases {
				want, ok := w.status[c.Name]
				if !ok {
					t.Errorf("unexpected case %q (%s)", c.Name, c.Classname)
					continue
				}
				if c.Status() != want {
					t.Errorf("case %q: %s, want %s", c.Name, c.Status(), want)
				}
				if m, ok := w.message[c.Name]; ok {
					var text string
					for _, p := range []*junitcheck.Problem{c.Failure, c.Error, c.Skipped} {
						if p != nil {
							text = p.Message + "\n" + p.Text
						}
					}
					if !strings.Contains(text, m) {
						t.Errorf("case %q says %q, want it to contain %q", c.Name, text, m)
					}
				}
			}
		})
	}
}

// CheckPath refuses what cannot be written, with the reason and a way out.
func TestCheckPath(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, path, want string }{
		{"a directory", dir, "is a directory"},
		{"no such directory", filepath.Join(dir, "nope", "r.json"), "does not exist"},
		{"empty", "", "empty file name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := runreport.CheckPath(tt.path)
			if !errors.Is(err, runreport.ErrPath) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrPath with %q", err, tt.want)
			}
		})
	}
	if err := runreport.CheckPath(filepath.Join(dir, "r.json")); err != nil {
		t.Errorf("a new file in an existing directory: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("CheckPath left %d files behind", len(entries))
	}
}

// WriteFile replaces a report whole, and a failed write leaves the old
// one and no temporary file.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	write := func(body string, fail error) error {
		return runreport.WriteFile(path, func(w io.Writer) error {
			if _, err := io.WriteString(w, body); err != nil {
				return err
			}
			return fail
		})
	}
	if err := write("one", nil); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := write("two", boom); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Errorf("after a failed write the file holds %q, want the old %q", b, "one")
	}
	if err := write("three", nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	st, _ := os.Stat(path)
	if string(b) != "three" || st.Mode().Perm() != 0o644 {
		t.Errorf("file %q mode %v, want %q 0644", b, st.Mode().Perm(), "three")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in the directory, want the report alone", len(entries))
	}
}
