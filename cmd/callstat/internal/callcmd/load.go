package callcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/cmd/callstat/internal/ui"
	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/app/load"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/runreport"
	"github.com/callstat/callstat/pkg/stats/report"
)

// loadLogInterval is how often a load run logs its progress where there is
// no status line (a pipe or a file: CI).
const loadLogInterval = 5 * time.Second

// loadFlagNames are the flags that set a load run's settings.
var loadFlagNames = map[app.Setting]string{
	app.SettingCalls:       "--calls",
	app.SettingConcurrency: "--concurrency",
	app.SettingRampPerSec:  "--ramp",
	app.SettingDuration:    "--duration",
}

func addLoadFlags(cmd *cobra.Command, opts *Options) {
	fl := cmd.Flags()
	fl.IntVar(&opts.Calls, "calls", 1, "load mode: place this many calls in all")
	fl.IntVar(&opts.Concurrency, "concurrency", 1, "load mode: at most this many calls at a time")
	fl.StringVar(&opts.Ramp, "ramp", "", "load mode: place at most this many calls a second, e.g. 50 or 50/s (default: as fast as --concurrency allows)")
}

// validateLoad checks the load flags, in load mode only.
func (o *Options) validateLoad() error {
	if !o.Load {
		return nil
	}
	if o.Ramp != "" {
		r, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(o.Ramp), "/s"), 64)
		if err != nil || r <= 0 || r > load.MaxRampPerSec {
			return cmdutil.FlagErrorf("invalid --ramp %q: want calls a second, e.g. 50 or 50/s", o.Ramp)
		}
		o.RampPerSec = r
	}
	cfg := o.loadConfig(nil)
	if err := cfg.Validate(); err != nil {
		return cmdutil.ConfigFlagError(err, loadFlagNames)
	}
	o.Concurrency = min(o.Concurrency, o.Calls)
	// Several calls, one --record name: one file per call.
	o.RecordEachCall = true
	return nil
}

func (o *Options) loadConfig(progress load.Progress) load.Config {
	return load.Config{Callee: o.Callee, Calls: o.Calls, Concurrency: o.Concurrency, RampPerSec: o.RampPerSec,
		Hold: o.Duration, Progress: progress}
}

// loadRun places opts.Calls calls, opts.Concurrency at a time, and shows
// the run's summary. The reports are written however it ends.
func loadRun(ctx context.Context, opts *Options) (err error) {
	f := opts.Factory
	rep := opts.StartReport(f, opts.reportRun(runreport.ModeLoad))
	defer func() { err = rep.Finish(ctx, err) }()
	phoneMetrics, stopMetrics, err := opts.StartMetrics(ctx, f)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if err := opts.resolveIDs(ctx); err != nil {
		return err
	}
	rep.SetParticipant(opts.From, opts.Callee)
	view := ui.NewLoad(opts.Calls, time.Now())
	live, err := cmdutil.OpenLive(f, opts.Events, view)
	if err != nil {
		return err
	}
	progress := &loadProgress{view: view}
	if !live.EventsOnStdout() { // with --events -, call:start carries the ids
		progress.ids = f.IO.Out
	}
	stopProgress := logProgress(f, view)
	cfg := opts.Config(f, opts.From, observers(live, phoneMetrics)...)
	cfg.AnswerTimeout = opts.AnswerTimeout
	res, storeErr := load.Run(ctx, cfg, opts.loadConfig(progress))
	stopProgress()
	liveErr := live.Close()
	if res == nil { // the softphone did not open
		return opts.Explain(errors.Join(storeErr, liveErr))
	}
	out := f.Output()
	lrep := res.Report()
	if err := out.LoadReport(lrep); err != nil {
		f.Logger.Warn("could not write the load summary", "err", err)
	}
	rep.SetLoad(reportLoad(lrep))

	var errs []error
	if storeErr != nil {
		errs = append(errs, storeErr)
		rep.AddFailure(storeErr)
	}
	results := make([]callResult, len(res.Results))
	for i, c := range res.Results {
		results[i] = callResult{id: c.ID, err: c.Err, recordErr: c.RecordErr}
		rep.AddCall(c.CallSummary, results[i].failure())
	}
	if res.Placed < res.Calls {
		rep.AddFailure(notPlaced(res.Placed, res.Calls))
	}
	if err := loadFailure(results, res.Placed, res.Calls); err != nil {
		errs = append(errs, err)
	}
	if liveErr != nil {
		errs = append(errs, liveErr)
		rep.AddFailure(liveErr)
	}
	rep.AddGates(opts.Assertions, lrep.AsCallSummary(), runreport.SubjectRun, len(errs) == 0)
	if len(errs) > 0 || len(opts.Assertions) == 0 {
		return errors.Join(errs...)
	}
	return out.CheckAssertions(opts.Assertions, []report.CallSummary{lrep.AsCallSummary()})
}

// reportLoad is the run's summary as the report has it.
func reportLoad(r load.Report) *runreport.Load {
	l := &runreport.Load{
		LoadSummary: r.LoadSummary, Calls: r.Calls, Concurrency: r.Concurrency, RampPerSecond: r.Ramp,
		ElapsedMs: float64(r.Elapsed) / float64(time.Millisecond), CPUSeconds: r.CPU.Seconds(),
		CPUPercentOfOneCore: r.CPUPercent(), PeakRSSBytes: r.PeakRSSBytes, FailureGroups: []runreport.FailureGroup{},
	}
	for _, g := range r.Failures {
		l.FailureGroups = append(l.FailureGroups, runreport.FailureGroup{Count: g.Count, StatusCode: g.StatusCode, Reason: g.Reason})
	}
	return l
}

// loadProgress shows a run's progress: the status line's counts, and each
// call's id on stdout as it is placed (ids nil: not).
type loadProgress struct {
	view *ui.Load
	ids  io.Writer
}

func (p *loadProgress) Placed(callID string) {
	p.view.Placed()
	if p.ids != nil {
		fmt.Fprintln(p.ids, callID)
	}
}

func (p *loadProgress) Connected(_ string, setup time.Duration) { p.view.Connected(setup) }
func (p *loadProgress) Ended(_ string, up, failed bool)         { p.view.Ended(up, failed) }
func (p *loadProgress) Packets(callID string, received, lost float64) {
	p.view.Packets(callID, received, lost)
}

// logProgress logs the run's progress every loadLogInterval where no status
// line shows it; the returned function stops it.
func logProgress(f *cmdutil.Factory, view *ui.Load) (stop func()) {
	if f.Status != nil {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(loadLogInterval)
		defer tick.Stop()
		for {
			select {
			case now := <-tick.C:
				f.Logger.Info("load progress", view.Progress(now).LogAttrs()...)
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// loadError is a load run's failure: its message counts the failed calls,
// and it wraps one error of each kind, so that the exit code is that of
// the most severe kind (cmdutil.ExitCodeFor decides, in its order).
type loadError struct {
	msg  string
	errs []error
}

func (e *loadError) Error() string   { return e.msg }
func (e *loadError) Unwrap() []error { return e.errs }

// callResult is how one call of a load run went.
type callResult struct {
	id        string
	err       error // the call's failure
	recordErr error // its --record file's
}

// failure is why the call failed, or its recording (nil when it went
// well).
func (r callResult) failure() error {
	switch {
	case r.err != nil:
		return fmt.Errorf("call %s: %w", r.id, r.err)
	case r.recordErr != nil:
		return fmt.Errorf("call %s: %w", r.id, r.recordErr)
	}
	return nil
}

// notPlaced is the failure of a run stopped before every call was
// placed.
func notPlaced(placed, total int) error {
	return fmt.Errorf("%w: load run stopped after placing %d of %d calls", call.ErrInterrupted, placed, total)
}

// loadFailure is nil when every call was placed, connected and ended
// normally, and its --record file (if any) was written.
func loadFailure(calls []callResult, placed, total int) error {
	var errs []error
	var kinds []cmdutil.ExitCode
	failed := 0
	keep := func(err error) {
		if code := cmdutil.ExitCodeFor(err); !slices.Contains(kinds, code) {
			kinds = append(kinds, code)
			errs = append(errs, err)
		}
	}
	for _, r := range calls {
		if err := r.failure(); err != nil {
			failed++
			keep(err)
		}
	}
	var parts []string
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d calls failed", failed, placed))
	}
	if placed < total {
		err := notPlaced(placed, total)
		parts = append(parts, err.Error())
		keep(err)
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return &loadError{msg: strings.Join(parts, "; ") + " (first of each kind: " + strings.Join(msgs, "; ") + ")", errs: errs}
}
