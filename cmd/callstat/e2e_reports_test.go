package main

// The reports a CI system reads (--report, --junit, callstat report) and
// the metrics a monitoring system scrapes (/metrics), each produced by the
// real binary and read back by its real consumer: callstat's own report
// reader, xmllint with Jenkins' JUnit schema, headless Chromium,
// promtool and a Prometheus server.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/chromium"
	"github.com/callstat/callstat/internal/testkit/junitcheck"
	"github.com/callstat/callstat/internal/testkit/prom"
	"github.com/callstat/callstat/pkg/runreport"
	"github.com/callstat/callstat/pkg/signaling"
)

// readReport reads a --report file with callstat's reader, which checks
// the schema and its version.
func readReport(t *testing.T, path string) *runreport.Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the report was not written: %v", err)
	}
	defer func() { _ = f.Close() }()
	r, err := runreport.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readJUnit validates a --junit file against the schema and GitLab's
// expectations and returns its one suite.
func readJUnit(t *testing.T, path string) junitcheck.Suite {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the JUnit file was not written: %v", err)
	}
	doc := junitcheck.Check(t, data)
	if len(doc.Suites) != 1 {
		t.Fatalf("%d suites, want 1", len(doc.Suites))
	}
	return doc.Suites[0]
}

func caseNamed(t *testing.T, s junitcheck.Suite, name string) junitcheck.Case {
	t.Helper()
	for _, c := range s.Cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no test case %q in %+v", name, s.Cases)
	return junitcheck.Case{}
}

// A call that breaches a gate, a call that fails, a bad report path, and
// the answerer's report after SIGINT: each report says what happened, with
// the exit code the process exited with.
func TestRunReports(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	aliceReport := filepath.Join(dir, "alice.json")
	alice := answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"), "--report", aliceReport)
	bob := func(extra ...string) (string, int) {
		args := append([]string{"--log-format", "json", "call", "--from", "bob@example.com", "--server", url,
			"--store", filepath.Join(dir, "bob.db"), "--ice-loopback", "--audio", "tone", "--interval", "250ms"}, extra...)
		_, stderr, code := run(t, time.Minute, args...)
		return stderr, code
	}

	t.Run("gate breached", func(t *testing.T) {
		rep, junit := filepath.Join(dir, "breach.json"), filepath.Join(dir, "breach.xml")
		stderr, code := bob("alice@example.com", "--duration", "1s", "--assert", "rtt<=1000ms,mos>=4.9",
			"--report", rep, "--junit", junit)
		if code != 13 {
			t.Fatalf("exit %d, want 13; stderr:\n%s", code, stderr)
		}
		r := readReport(t, rep)
		if r.ExitCode != 13 || r.ExitReason != runreport.KindAssertion || r.Outcome != runreport.Breached || r.Interrupted {
			t.Errorf("report says exit %d (%s), %s, interrupted %v", r.ExitCode, r.ExitReason, r.Outcome, r.Interrupted)
		}
		if r.Run.Command != "call" || r.Run.Mode != runreport.ModeSingle || r.Run.Callee != "alice@example.com" || r.Run.Assert == "" {
			t.Errorf("run %+v", r.Run)
		}
		if len(r.Calls) != 1 || r.Calls[0].Outcome != runreport.Passed || r.Calls[0].StatusCode != signaling.StatusNormal ||
			r.Calls[0].PacketsReceived == 0 || r.Calls[0].RTTP95Ms == nil || r.Calls[0].MOSMin == nil {
			t.Fatalf("calls %+v", r.Calls)
		}
		if len(r.Gates) != 2 {
			t.Fatalf("gates %+v", r.Gates)
		}
		rtt, mos := r.Gates[0], r.Gates[1]
		if rtt.Outcome != runreport.GatePassed || rtt.Limit != 1000 || rtt.Unit != "ms" || rtt.Measured == nil || *rtt.Measured != *r.Calls[0].RTTP95Ms {
			t.Errorf("rtt gate %+v", rtt)
		}
		if mos.Outcome != runreport.GateBreached || mos.Limit != 4.9 || mos.Measured == nil || *mos.Measured != *r.Calls[0].MOSMin ||
			mos.CallID != r.Calls[0].CallID {
			t.Errorf("mos gate %+v", mos)
		}
		s := readJUnit(t, junit)
		c := caseNamed(t, s, "gate mos>=4.9 (call 1)")
		want := fmt.Sprintf("mos min is %.2f, limit >= 4.90", *mos.Measured)
		if c.Status() != "failed" || !strings.Contains(c.Failure.Message, want) || !strings.Contains(c.Failure.Text, want) {
			t.Errorf("gate case %+v, want failed with %q", c, want)
		}
		if c := caseNamed(t, s, "call 1: bob@example.com -> alice@example.com"); c.Status() != "success" ||
			!strings.Contains(c.SystemOut, r.Calls[0].CallID) {
			t.Errorf("call case %+v", c)
		}
		if c := caseNamed(t, s, "exit code"); c.Status() != "failed" || !strings.Contains(c.Failure.Message, "exit code 13") {
			t.Errorf("exit case %+v", c)
		}
	})

	t.Run("call failed", func(t *testing.T) {
		rep, junit := filepath.Join(dir, "fail.json"), filepath.Join(dir, "fail.xml")
		stderr, code := bob("nobody@example.com", "--assert", "mos>=4", "--report", rep, "--junit", junit)
		if code != 4 {
			t.Fatalf("exit %d, want 4; stderr:\n%s", code, stderr)
		}
		r := readReport(t, rep)
		if r.ExitCode != 4 || r.ExitReason != runreport.KindCalleeNotFound || r.Outcome != runreport.Failed || r.Error == "" {
			t.Errorf("report says exit %d (%s), %s: %q", r.ExitCode, r.ExitReason, r.Outcome, r.Error)
		}
		if len(r.Calls) != 1 || r.Calls[0].Failure == nil || r.Calls[0].Failure.StatusCode != signaling.StatusCalleeNotFound ||
			r.Calls[0].Failure.Kind != runreport.KindCalleeNotFound || r.Calls[0].ExitCode != 4 {
			t.Fatalf("calls %+v", r.Calls)
		}
		if len(r.Failures) != 1 || r.Failures[0].CallID != r.Calls[0].CallID {
			t.Errorf("failures %+v", r.Failures)
		}
		if len(r.Gates) != 1 || r.Gates[0].Outcome != runreport.GateSkipped || r.Gates[0].Measured != nil {
			t.Errorf("gates %+v, want the one skipped, never measured", r.Gates)
		}
		s := readJUnit(t, junit)
		c := caseNamed(t, s, "call 1: bob@example.com -> nobody@example.com")
		if c.Status() != "failed" || c.Failure.Type != runreport.KindCalleeNotFound || !strings.HasPrefix(c.Failure.Message, "404 ") {
			t.Errorf("call case %+v, want failed with the status code", c)
		}
		if c := caseNamed(t, s, "gate mos>=4 (call 1)"); c.Status() != "skipped" {
			t.Errorf("gate case %+v, want skipped", c)
		}
	})

	t.Run("bad report path", func(t *testing.T) {
		stderr, code := bob("alice@example.com", "--report", filepath.Join(dir, "missing", "r.json"))
		if code != 2 || !strings.Contains(stderr, "does not exist") {
			t.Errorf("exit %d, want 2 naming the missing directory; stderr:\n%s", code, stderr)
		}
	})

	// The answerer: stopped by a signal, its report lists the call it
	// answered and passes.
	alice.signal(syscall.SIGINT)
	if code := alice.wait(20 * time.Second); code != 0 {
		t.Fatalf("answerer exit %d after SIGINT, want 0", code)
	}
	r := readReport(t, aliceReport)
	if !r.Interrupted || r.ExitCode != 0 || r.Outcome != runreport.Passed || r.Run.Command != "answer" || r.Run.Participant != "alice@example.com" {
		t.Errorf("answerer's report: interrupted %v exit %d %s run %+v", r.Interrupted, r.ExitCode, r.Outcome, r.Run)
	}
	if len(r.Calls) != 1 || r.Calls[0].Direction != "incoming" || r.Calls[0].Peer != "bob@example.com" || r.Calls[0].Samples == 0 {
		t.Errorf("answerer's calls %+v, want the one call from bob", r.Calls)
	}
}

// SIGINT during a connected call: the report is written, says the
// process was interrupted, and has the call with its figures.
func TestRunReportOnSignal(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"), fastClient...)
	rep, junit := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.xml")
	bob := caller(t, url, filepath.Join(dir, "bob.db"), "--report", rep, "--junit", junit)
	connected(bob)
	waitSamples(t, filepath.Join(dir, "bob.db"), "bob@example.com", 3, 20*time.Second)
	bob.signal(syscall.SIGTERM)
	code := bob.wait(20 * time.Second)
	r := readReport(t, rep)
	if !r.Interrupted || r.ExitCode != code {
		t.Errorf("report: interrupted %v, exit %d; the process exited %d", r.Interrupted, r.ExitCode, code)
	}
	if len(r.Calls) != 1 || r.Calls[0].Reason != "interrupted by signal" || r.Calls[0].Samples < 3 {
		t.Errorf("calls %+v", r.Calls)
	}
	s := readJUnit(t, junit)
	if s.Property("interrupted") != "true" {
		t.Errorf("suite properties %v, want interrupted", s.Properties)
	}
}

// A load run's report has every call and the run's summary, its gates
// checked on the run as a whole; callstat report draws the store it
// filled as a page Chromium shows without a console error.
func TestLoadReportAndHTML(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"), "--decode=false")
	rep, junit, bobDB := filepath.Join(dir, "load.json"), filepath.Join(dir, "load.xml"), filepath.Join(dir, "bob.db")
	_, stderr, code := run(t, 2*time.Minute, "call", "alice@example.com", "--from", "bob@example.com", "--server", url,
		"--store", bobDB, "--ice-loopback", "--audio", "tone", "--interval", "250ms", "--decode",
		"--calls", "3", "--concurrency", "3", "--duration", "2s", "--assert", "setup<=10s,loss<=5%",
		"--report", rep, "--junit", junit)
	if code != 0 {
		t.Fatalf("load run exit %d; stderr:\n%s", code, stderr)
	}
	r := readReport(t, rep)
	if r.Run.Mode != runreport.ModeLoad || r.Run.Calls != 3 || r.Load == nil || r.Load.Placed != 3 || r.Load.Connected != 3 ||
		len(r.Calls) != 3 || r.Outcome != runreport.Passed {
		t.Fatalf("report: mode %s, load %+v, %d calls, %s", r.Run.Mode, r.Load, len(r.Calls), r.Outcome)
	}
	for _, g := range r.Gates {
		if g.Subject != runreport.SubjectRun || g.Outcome != runreport.GatePassed || g.Measured == nil {
			t.Errorf("gate %+v, want passed on the run", g)
		}
	}
	s := readJUnit(t, junit)
	if s.Name != "callstat call (load)" || len(s.Cases) != 3+2+1 || caseNamed(t, s, "gate setup<=10s (all calls)").Status() != "success" {
		t.Errorf("suite %q with %d cases", s.Name, len(s.Cases))
	}

	html := filepath.Join(dir, "report.html")
	stdout, stderr, code := run(t, time.Minute, "report", "--out", html, "--store", bobDB, "--participant", "bob@example.com")
	if code != 0 || strings.TrimSpace(stdout) != html {
		t.Fatalf("report exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	p := chromium.Open(t, "file://"+html, 1400, 900)
	if n := p.Int(`document.querySelectorAll("svg.plot").length`); n != 3*6 {
		t.Errorf("%d plots, want 18", n)
	}
	// Real calls, decoded: every series of every plot has data.
	if n := p.Int(`document.querySelectorAll("svg.plot .nodata").length`); n != 0 {
		t.Errorf("%d series without data", n)
	}
	if n := p.Int(`[...document.querySelectorAll("svg.plot path.series")].filter((e) => e.getTotalLength() > 0).length`); n != 3*6*2 {
		t.Errorf("%d series drawn, want 36", n)
	}
	p.Screenshot("load-report.png")

	// Nothing stored for a participant: exit 12, no file.
	_, stderr, code = run(t, time.Minute, "report", "--out", filepath.Join(dir, "none.html"), "--store", bobDB, "--participant", "zed")
	if code != 12 || !strings.Contains(stderr, "bob@example.com") {
		t.Errorf("unknown participant: exit %d, want 12 naming those stored; stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.html")); err == nil {
		t.Error("a report was written for nobody")
	}
}

// A real Prometheus server scrapes a running load run (call --metrics-addr)
// and the signaling server's /metrics, every second, and its query API
// returns the series they produced: calls in progress, RTP packets, RTT
// and setup histograms; the server's registrations and routed calls.
func TestPrometheusScrapesLoadRun(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"), "--decode=false")
	metricsAddr := prom.FreePort(t)
	serveAddr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/ws")
	ps := prom.Start(t, metricsAddr, serveAddr)

	rep := filepath.Join(dir, "load.json")
	// Calls held until the signal: the test decides when the run ends,
	// once Prometheus has what it looks for.
	bob := start(t, "load", nil, "call", "alice@example.com", "--from", "bob@example.com", "--server", url,
		"--store", filepath.Join(dir, "bob.db"), "--ice-loopback", "--audio", "tone", "--interval", "250ms",
		"--calls", "2", "--concurrency", "2", "--metrics-addr", metricsAddr, "--report", rep)
	bob.waitLog(20*time.Second, "metrics listening", map[string]any{"url": "http://" + metricsAddr + "/metrics"})

	// The exposition passes promtool as Prometheus sees it.
	prom.Lint(t, prom.Scrape(t, "http://"+metricsAddr+"/metrics"))
	prom.Lint(t, prom.Scrape(t, "http://"+serveAddr+"/metrics"))

	for _, q := range []struct{ query, what string }{
		{`callstat_calls_active{job="callstat",direction="outgoing"} == 2`, "both calls in progress"},
		{`callstat_rtp_packets_total{direction="sent"} > 100`, "packets sent"},
		{`callstat_rtt_seconds_count > 0`, "RTT observed"},
		{`callstat_call_setup_seconds_count{direction="outgoing"} == 2`, "two setups"},
		{`callstat_server_registrations == 1`, "the answerer's registration"},
		{`callstat_server_calls{state="answered"} == 2`, "two answered calls on the server"},
	} {
		ps.WaitFor(60*time.Second, q.what+" ("+q.query+")", func() (bool, error) {
			res, err := ps.Query(q.query)
			return len(res) > 0, err
		})
	}
	res, err := ps.Query(`up{job="callstat"}`)
	if err != nil || len(res) != 2 {
		t.Fatalf("up: %v %v, want both targets", res, err)
	}
	for _, s := range res {
		if s.Value != 1 {
			t.Errorf("target %s is down", s.Labels["instance"])
		}
	}

	// The queries docs/metrics.md suggests parse and run.
	for _, q := range documentedQueries(t) {
		if _, err := ps.Query(q); err != nil {
			t.Errorf("documented query: %v", err)
		}
	}

	bob.signal(syscall.SIGINT)
	code := bob.wait(30 * time.Second)
	r := readReport(t, rep)
	if !r.Interrupted || r.ExitCode != code || len(r.Calls) != 2 {
		t.Errorf("report after SIGINT: interrupted %v exit %d (process %d), %d calls", r.Interrupted, r.ExitCode, code, len(r.Calls))
	}
}

// documentedQueries are the PromQL lines of docs/metrics.md.
func documentedQueries(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```promql\n(.*?)```").FindSubmatch(doc)
	if block == nil {
		t.Fatal("docs/metrics.md has no promql block")
	}
	var out []string
	for line := range strings.SplitSeq(string(block[1]), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		t.Fatal("no query in docs/metrics.md")
	}
	return out
}
