package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/pkg/metrics"
	"github.com/callstat/callstat/pkg/runreport"
	"github.com/callstat/callstat/pkg/stats/report"
)

// ReportFlags are what call and answer leave behind for CI and
// monitoring: --report (JSON), --junit (XML) and --metrics-addr
// (Prometheus). See docs/reports.md and docs/metrics.md.
type ReportFlags struct {
	Report      string
	JUnit       string
	MetricsAddr string
}

// AddReportFlags registers --report, --junit and --metrics-addr.
func AddReportFlags(cmd *cobra.Command, o *ReportFlags) {
	fl := cmd.Flags()
	fl.StringVar(&o.Report, "report", "", "write a JSON report of the command (calls, gates, failures, exit code) to this file at the end, even when it fails or is interrupted (docs/reports.md)")
	fl.StringVar(&o.JUnit, "junit", "", "write a JUnit XML report (a test case per call and per gate) to this file at the end, for CI")
	fl.StringVar(&o.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics while running, e.g. 127.0.0.1:9464 (port 0: a free port, logged)")
}

// ValidateReports checks the flags before anything starts: each report's
// directory exists and is writable, the metrics address is host:port.
func (o *ReportFlags) ValidateReports() error {
	for _, f := range []struct{ flag, path string }{{"--report", o.Report}, {"--junit", o.JUnit}} {
		if f.path == "" {
			continue
		}
		if err := runreport.CheckPath(f.path); err != nil {
			return FlagErrorf("invalid %s %s: %v", f.flag, f.path, err)
		}
	}
	if o.Report != "" && o.Report == o.JUnit {
		return FlagErrorf("--report and --junit name the same file %s: give each its own", o.Report)
	}
	if o.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(o.MetricsAddr); err != nil {
			return FlagErrorf("invalid --metrics-addr %q: want host:port, e.g. 127.0.0.1:9464", o.MetricsAddr)
		}
	}
	return nil
}

// StartMetrics serves the softphone metrics at --metrics-addr, if given,
// until stop is called; the Phone (nil without the flag) is the
// softphones' observer. An address that cannot be listened on is a usage
// error.
func (o *ReportFlags) StartMetrics(ctx context.Context, f *Factory) (*metrics.Phone, func(), error) {
	if o.MetricsAddr == "" {
		return nil, func() {}, nil
	}
	ln, err := metrics.Listen(ctx, o.MetricsAddr)
	if err != nil {
		return nil, nil, &FlagError{Err: fmt.Errorf("--metrics-addr: %w", err)}
	}
	reg := metrics.NewRegistry()
	phone := metrics.NewPhone(reg)
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := metrics.Serve(sctx, ln, reg, f.Logger); err != nil {
			f.Logger.Warn("metrics server stopped", "err", err)
		}
	}()
	f.Logger.Info("metrics listening", "url", "http://"+ln.Addr().String()+metrics.Path)
	return phone, func() {
		cancel()
		<-done
	}, nil
}

// exitKinds names the exit codes in reports.
var exitKinds = map[ExitCode]string{
	ExitOK:                runreport.KindOK,
	ExitError:             runreport.KindError,
	ExitUsage:             runreport.KindUsage,
	ExitServerUnreachable: runreport.KindServerUnreachable,
	ExitCalleeNotFound:    runreport.KindCalleeNotFound,
	ExitRejected:          runreport.KindRejected,
	ExitMediaFailure:      runreport.KindMediaFailure,
	ExitInterrupted:       runreport.KindInterrupted,
	ExitPeerLost:          runreport.KindPeerLost,
	ExitAuth:              runreport.KindAuth,
	ExitUserMedia:         runreport.KindUserMedia,
	ExitStore:             runreport.KindStore,
	ExitNoData:            runreport.KindNoData,
	ExitAssert:            runreport.KindAssertion,
}

// Kind is the exit code's name in reports.
func (c ExitCode) Kind() string {
	if k, ok := exitKinds[c]; ok {
		return k
	}
	return runreport.KindError
}

// Reporter gathers a command's report as it runs and writes --report and
// --junit when it finishes. A nil *Reporter (neither flag given) does
// nothing. Its methods may be called from several goroutines.
type Reporter struct {
	f     *Factory
	flags ReportFlags
	start time.Time

	mu sync.Mutex
	r  *runreport.Report
}

// StartReport begins the report of run (the tool's fields are filled
// here), or returns nil when neither --report nor --junit was given.
func (o *ReportFlags) StartReport(f *Factory, run runreport.Run) *Reporter {
	if o.Report == "" && o.JUnit == "" {
		return nil
	}
	host, _ := os.Hostname()
	start := f.Now()
	tool := runreport.Tool{Name: "callstat", Version: f.Build.Version, Commit: f.Build.Commit, Hostname: host}
	return &Reporter{f: f, flags: *o, start: start, r: runreport.New(tool, run, start)}
}

// ClientRun is the part of a report's Run the client flags say.
func (o *ClientFlags) ClientRun(command, mode, participant string) runreport.Run {
	return runreport.Run{Command: command, Mode: mode, Participant: participant, Server: o.Server, Store: o.Store,
		Audio: o.Audio, IntervalMs: o.Interval.Milliseconds()}
}

// SetParticipant fills in the participant once known (from tokens).
func (r *Reporter) SetParticipant(participant, callee string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.r.Run.Participant, r.r.Run.Callee = participant, callee
}

// AddCall records a finished call: its summary, and callErr, why it
// failed (nil when it went well).
func (r *Reporter) AddCall(sum report.CallSummary, callErr error) {
	if r == nil {
		return
	}
	c := runreport.Call{CallSummary: sum, Outcome: runreport.Passed}
	if callErr != nil {
		code := ExitCodeFor(callErr)
		f := runreport.Failure{CallID: sum.CallID, Kind: code.Kind(), ExitCode: int(code), StatusCode: sum.StatusCode,
			Reason: sum.Reason, Message: callErr.Error()}
		c.Outcome, c.ExitCode, c.Failure = runreport.Failed, int(code), &f
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.r.Calls = append(r.r.Calls, c)
	if c.Failure != nil {
		r.r.Failures = append(r.r.Failures, *c.Failure)
	}
}

// AddFailure records a failure of the run itself (not of one call): calls
// not placed, stats lost.
func (r *Reporter) AddFailure(err error) {
	if r == nil || err == nil {
		return
	}
	code := ExitCodeFor(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.r.Failures = append(r.r.Failures, runreport.Failure{Kind: code.Kind(), ExitCode: int(code), Message: err.Error()})
}

// AddGates records the assertions checked against a summary (a call's,
// or a load run's taken together: subject runreport.SubjectRun); applied
// says whether the command applied them (not once something failed).
func (r *Reporter) AddGates(as report.Assertions, sum report.CallSummary, subject string, applied bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, res := range as.Evaluate(sum) {
		r.r.Gates = append(r.r.Gates, runreport.NewGate(res, subject, applied))
	}
}

// SetLoad records a load run's summary.
func (r *Reporter) SetLoad(l *runreport.Load) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.r.Load = l
}

// Finish completes the report with how the command ended (err, its final
// error; ctx, its context, done when a signal stopped it) and writes the
// files. It returns err, joined with any failure to write them.
func (r *Reporter) Finish(ctx context.Context, err error) error {
	if r == nil {
		return err
	}
	r.mu.Lock()
	rep := r.r
	rep.EndedAt = r.f.Now()
	rep.ElapsedMs = float64(rep.EndedAt.Sub(r.start)) / float64(time.Millisecond)
	rep.Interrupted = ctx.Err() != nil
	code := ExitCodeFor(err)
	rep.ExitCode, rep.ExitReason = int(code), code.Kind()
	switch code {
	case ExitOK:
		rep.Outcome = runreport.Passed
	case ExitAssert:
		rep.Outcome = runreport.Breached
	default:
		rep.Outcome = runreport.Failed
		if len(rep.Failures) == 0 {
			// Nothing got as far as a call: the command's error is the
			// run's failure.
			rep.Failures = append(rep.Failures, runreport.Failure{Kind: code.Kind(), ExitCode: int(code), Message: err.Error()})
		}
	}
	if err != nil {
		rep.Error = err.Error()
	}
	r.mu.Unlock()

	var werr error
	if p := r.flags.Report; p != "" {
		if e := runreport.WriteFile(p, rep.WriteJSON); e != nil {
			werr = errors.Join(werr, fmt.Errorf("--report %s: %w", p, e))
		} else {
			r.f.Logger.Info("report written", "path", p, "format", "json")
		}
	}
	if p := r.flags.JUnit; p != "" {
		if e := runreport.WriteFile(p, func(w io.Writer) error { return rep.WriteJUnit(w) }); e != nil {
			werr = errors.Join(werr, fmt.Errorf("--junit %s: %w", p, e))
		} else {
			r.f.Logger.Info("report written", "path", p, "format", "junit")
		}
	}
	return errors.Join(err, werr)
}
