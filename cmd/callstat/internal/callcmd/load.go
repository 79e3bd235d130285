package callcmd

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/cmd/callstat/internal/ui"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/stats"
)

// loadLogInterval is how often a load run logs its progress where there is
// no status line (a pipe or a file: CI).
const loadLogInterval = 5 * time.Second

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
	if o.Calls < 1 {
		return cmdutil.FlagErrorf("--calls must be at least 1")
	}
	if o.Concurrency < 1 {
		return cmdutil.FlagErrorf("--concurrency must be at least 1")
	}
	o.Concurrency = min(o.Concurrency, o.Calls)
	if o.Ramp != "" {
		r, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(o.Ramp), "/s"), 64)
		if err != nil || r <= 0 || r > 1e6 {
			return cmdutil.FlagErrorf("invalid --ramp %q: want calls a second, e.g. 50 or 50/s", o.Ramp)
		}
		o.RampPerSec = r
	}
	// Several calls, one --record name: one file per call.
	o.RecordEachCall = true
	return nil
}

// loadCall is what a load run keeps of one call.
type loadCall struct {
	c          *call.Call
	z          *stats.Summarizer // fed by every sample of the call
	remoteLost float64           // what the far end reported lost, as of the last sample
	sum        stats.LoadCall    // once it has ended
	err        error             // the call's failure, if any
	recEr      error             // its --record file's
}

// loadCalls holds a run's calls. The collector feeds samples to them from
// its goroutine; a call's summarizer is read only once the call has ended,
// after its last sample.
type loadCalls struct {
	mu   sync.Mutex
	byID map[string]*loadCall
	list []*loadCall // in the order placed
	view *ui.Load
}

func (l *loadCalls) add(c *call.Call) *loadCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	lc := l.byID[c.ID()]
	if lc == nil { // no sample came first
		lc = &loadCall{z: &stats.Summarizer{}}
		l.byID[c.ID()] = lc
	}
	lc.c = c
	l.list = append(l.list, lc)
	return lc
}

func (l *loadCalls) onSample(s stats.Sample) {
	l.mu.Lock()
	lc := l.byID[s.CallID]
	if lc == nil { // a sample before Dial returned
		lc = &loadCall{z: &stats.Summarizer{}}
		l.byID[s.CallID] = lc
	}
	z := lc.z
	l.mu.Unlock()
	if z == nil { // the call has ended
		return
	}
	// Only the collector's goroutine feeds a call's figures.
	z.Add(s.Objects)
	for _, o := range s.Objects {
		if o.Type() == "remote-inbound-rtp" {
			if v, ok := o.Number("packetsLost"); ok {
				lc.remoteLost = v
			}
		}
	}
	if l.view != nil {
		received, lost := z.Inbound()
		l.view.Packets(s.CallID, received, lost)
	}
}

// finish makes the call's summary once it has ended.
func (l *loadCalls) finish(lc *loadCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sum := lc.z.Summary()
	sum.SetCall(lc.c.Record(), lc.c.EndRecord())
	lc.sum = stats.LoadCall{CallSummary: sum, RemotePacketsLost: lc.remoteLost}
	if sum.DurationMs != nil {
		lc.sum.PacketsExpected = math.Floor(*sum.DurationMs / float64(audio.FrameTime/time.Millisecond))
	}
	lc.err, lc.recEr = lc.c.Err(), lc.c.RecordErr()
	lc.z = nil
	delete(l.byID, lc.c.ID())
}

// RunLoad places opts.Calls calls, opts.Concurrency at a time, and sums
// them up.
func RunLoad(ctx context.Context, opts *Options) error {
	f := opts.Factory
	if err := opts.LoadTokens(ctx, f); err != nil {
		return err
	}
	if t := opts.Tokens; t != nil {
		opts.Callee, opts.From = cmp.Or(opts.Callee, t.Callee), cmp.Or(strings.TrimSpace(opts.From), t.Caller)
	}
	started := time.Now()
	usageAtStart := cmdutil.ProcessUsage()
	view := ui.NewLoad(opts.Calls, started)
	live, err := cmdutil.OpenLoadLive(f, opts.Events, view)
	if err != nil {
		return err
	}
	opts.Live = live
	calls := &loadCalls{byID: map[string]*loadCall{}, view: view}
	opts.OnSample = calls.onSample
	sp, err := cmdutil.OpenSoftphone(ctx, f, &opts.ClientFlags, opts.From, false, call.Hooks{}, opts.AnswerTimeout)
	if err != nil {
		return errors.Join(err, live.Close())
	}
	stopProgress := logProgress(f, view)
	placed := placeCalls(ctx, opts, sp, view, calls)
	stopProgress()
	storeErr := sp.Close()
	liveErr := live.Close()
	elapsed := time.Since(started)
	usage := cmdutil.ProcessUsage()

	sums := make([]stats.LoadCall, len(calls.list))
	for i, lc := range calls.list {
		sums[i] = lc.sum
	}
	rep := loadReport{
		LoadSummary: stats.SummarizeLoad(sums),
		Calls:       opts.Calls, Concurrency: opts.Concurrency, Ramp: opts.RampPerSec,
		Elapsed: elapsed, CPU: usage.CPU - usageAtStart.CPU, PeakRSSBytes: usage.PeakRSSBytes,
		Failures: failureGroups(calls.list),
	}
	if err := writeLoadReport(f, rep); err != nil {
		f.Logger.Warn("could not write the load summary", "err", err)
	}

	var errs []error
	if storeErr != nil {
		errs = append(errs, storeErr)
	}
	results := make([]callResult, len(calls.list))
	for i, lc := range calls.list {
		results[i] = callResult{id: lc.c.ID(), err: lc.err, recordErr: lc.recEr}
	}
	if err := loadFailure(results, placed, opts.Calls); err != nil {
		errs = append(errs, err)
	}
	if liveErr != nil {
		errs = append(errs, liveErr)
	}
	if len(errs) > 0 || len(opts.Assertions) == 0 {
		return errors.Join(errs...)
	}
	return cmdutil.CheckAssertions(f, opts.Assertions, []stats.CallSummary{rep.AsCallSummary()})
}

// placeCalls places the calls, at most opts.Concurrency at a time and
// opts.RampPerSec a second, until all are placed or ctx is done, and
// returns how many it placed once every call has ended.
func placeCalls(ctx context.Context, opts *Options, sp *cmdutil.Softphone, view *ui.Load, calls *loadCalls) int {
	f := opts.Factory
	slots := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	var every time.Duration
	if opts.RampPerSec > 0 {
		every = time.Duration(float64(time.Second) / opts.RampPerSec)
	}
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range opts.Calls {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return i
		}
		if every > 0 {
			timer.Reset(time.Until(next))
			select {
			case <-timer.C:
			case <-ctx.Done():
				return i
			}
			next = next.Add(every)
			if now := time.Now(); next.Before(now.Add(-every)) { // fell behind: no burst to catch up
				next = now
			}
		}
		c, err := sp.Phone.Dial(ctx, opts.Callee)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return i
			}
			// The phone is closed or the callee empty: nothing more can go.
			f.Logger.Error("cannot place call", "err", err)
			return i
		}
		lc := calls.add(c)
		view.Placed()
		if !sp.Live.EventsOnStdout() {
			fmt.Fprintln(f.IO.Out, c.ID())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			runLoadCall(ctx, opts, sp, view, lc)
			calls.finish(lc)
		}()
	}
	return opts.Calls
}

// runLoadCall follows one call of a load run until it has ended.
func runLoadCall(ctx context.Context, opts *Options, sp *cmdutil.Softphone, view *ui.Load, lc *loadCall) {
	c := lc.c
	up := hold(ctx, c, opts.Duration, func() { view.Connected(c.SetupTime()) })
	failed := c.Err() != nil
	view.Ended(up, failed)
	if failed {
		sp.Log.Warn(cmdutil.Describe(c), "err", c.Err())
	} else {
		sp.Log.Info(cmdutil.Describe(c))
	}
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

// failureGroup counts the calls that failed the same way.
type failureGroup struct {
	Count      int    `json:"count"`
	StatusCode int    `json:"statusCode"`
	Reason     string `json:"reason"`
}

func failureGroups(calls []*loadCall) []failureGroup {
	var out []failureGroup
	for _, lc := range calls {
		if lc.err == nil {
			continue
		}
		i := slices.IndexFunc(out, func(g failureGroup) bool {
			return g.StatusCode == lc.sum.StatusCode && g.Reason == lc.sum.Reason
		})
		if i < 0 {
			out = append(out, failureGroup{StatusCode: lc.sum.StatusCode, Reason: lc.sum.Reason})
			i = len(out) - 1
		}
		out[i].Count++
	}
	slices.SortStableFunc(out, func(a, b failureGroup) int { return b.Count - a.Count })
	return out
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
		switch {
		case r.err != nil:
			failed++
			keep(fmt.Errorf("call %s: %w", r.id, r.err))
		case r.recordErr != nil:
			failed++
			keep(fmt.Errorf("call %s: %w", r.id, r.recordErr))
		}
	}
	var parts []string
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d calls failed", failed, placed))
	}
	if placed < total {
		err := fmt.Errorf("%w: load run stopped after placing %d of %d calls", call.ErrInterrupted, placed, total)
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

// loadReport is the run's summary with what the process used.
type loadReport struct {
	stats.LoadSummary
	Calls        int            `json:"calls"`
	Concurrency  int            `json:"concurrency"`
	Ramp         float64        `json:"rampPerSecond,omitempty"`
	Elapsed      time.Duration  `json:"-"`
	CPU          time.Duration  `json:"-"`
	PeakRSSBytes int64          `json:"peakRssBytes"`
	Failures     []failureGroup `json:"failures"`
}

// MarshalJSON adds the durations in the units the other figures use.
func (r loadReport) MarshalJSON() ([]byte, error) {
	type plain loadReport
	return json.Marshal(struct {
		plain
		ElapsedMs  float64 `json:"elapsedMs"`
		CPUSeconds float64 `json:"cpuSeconds"`
		CPUPercent float64 `json:"cpuPercentOfOneCore"`
	}{plain(r), float64(r.Elapsed) / 1e6, r.CPU.Seconds(), r.cpuPercent()})
}

func (r loadReport) cpuPercent() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return 100 * r.CPU.Seconds() / r.Elapsed.Seconds()
}

// writeLoadReport shows the summary on stderr as the call summaries are
// shown (cmdutil.WriteSummaries): not with --quiet; as a block of text, or
// with --log-format json as one JSON line ("msg":"load summary").
func writeLoadReport(f *cmdutil.Factory, r loadReport) error {
	if f.LogLevel > slog.LevelInfo {
		return nil
	}
	var b bytes.Buffer
	if f.LogFormat == "json" {
		if err := json.NewEncoder(&b).Encode(map[string]any{"time": f.Now().Format(time.RFC3339Nano), "level": "INFO",
			"msg": "load summary", "summary": r}); err != nil {
			return err
		}
	} else {
		writeLoadText(&b, r)
	}
	_, err := f.IO.ErrOut.Write(b.Bytes())
	return err
}

func writeLoadText(b *bytes.Buffer, r loadReport) {
	ramp := ""
	if r.Ramp > 0 {
		ramp = fmt.Sprintf(", ramp %g/s", r.Ramp)
	}
	fmt.Fprintf(b, "load: %d of %d calls placed, %d connected, %d failed, in %s (concurrency %d%s)\n",
		r.Placed, r.Calls, r.Connected, r.Failed, r.Elapsed.Round(10*time.Millisecond), r.Concurrency, ramp)
	fmt.Fprintf(b, "  setup     p50 %s  p95 %s  p99 %s  max %s\n", msFig(r.SetupP50Ms), msFig(r.SetupP95Ms), msFig(r.SetupP99Ms), msFig(r.SetupMaxMs))
	fmt.Fprintf(b, "  sent      %.0f packets, %s of the %.0f of real time; the far ends lost %.0f\n",
		r.PacketsSent, fig(r.SentPercent, 2, " %"), r.PacketsExpected, r.RemotePacketsLost)
	fmt.Fprintf(b, "  received  %.0f packets, %s of the %.0f of real time; lost %.0f (%s)\n",
		r.PacketsReceived, fig(r.ReceivedPercent, 2, " %"), r.PacketsExpected, r.PacketsLost, fig(r.LossPercent, 3, " %"))
	fmt.Fprintf(b, "  jitter    p50 %s  p95 %s\n", msFig(r.JitterP50Ms), msFig(r.JitterP95Ms))
	fmt.Fprintf(b, "  rtt       p50 %s  p95 %s\n", msFig(r.RTTP50Ms), msFig(r.RTTP95Ms))
	fmt.Fprintf(b, "  mos       min %s  mean %s\n", fig(r.MOSMin, 2, ""), fig(r.MOSMean, 2, ""))
	rss := "unknown"
	if r.PeakRSSBytes >= 0 {
		rss = fmt.Sprintf("%.1f MiB", float64(r.PeakRSSBytes)/(1<<20))
	}
	fmt.Fprintf(b, "  process   cpu %.1f s (%.0f %% of one core), peak rss %s\n", r.CPU.Seconds(), r.cpuPercent(), rss)
	for _, g := range r.Failures {
		fmt.Fprintf(b, "  failed    %d × %d %s\n", g.Count, g.StatusCode, g.Reason)
	}
}

func msFig(v *float64) string { return fig(v, 1, " ms") }

func fig(v *float64, prec int, unit string) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', prec, 64) + unit
}
