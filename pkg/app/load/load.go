// Package load is callstat's load engine: it places many calls from one
// softphone, a number at a time and at most so many a second, follows
// each to its end, and sums the run up. A Result keeps every call's own
// figures, so that the results of several runs (several hosts) merge into
// one whose percentiles are taken over all the calls, never averaged.
package load

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/report"
)

// MaxRampPerSec bounds Config.RampPerSec.
const MaxRampPerSec = 1e6

// Config is a load run.
type Config struct {
	Callee string
	// Calls is how many calls to place in all, Concurrency how many may
	// be in progress at once (at most Calls).
	Calls       int
	Concurrency int
	// RampPerSec places at most this many calls a second (0: as fast as
	// Concurrency allows).
	RampPerSec float64
	// Hold hangs each call up this long after it connects (0: the far end
	// ends it, or ctx).
	Hold time.Duration
	// Progress, if set, is told what happens as it happens.
	Progress Progress
}

// Progress is told about a run's calls as they go; its methods run on the
// run's goroutines and the stats collector's, and must not block.
type Progress interface {
	// Placed: a call was dialled.
	Placed(callID string)
	// Connected: a call connected after setup.
	Connected(callID string, setup time.Duration)
	// Ended: a call ended; up says whether it had connected, failed
	// whether it ended with an error.
	Ended(callID string, up, failed bool)
	// Packets: a call's inbound packets received and lost so far, from
	// its latest stats sample.
	Packets(callID string, received, lost float64)
}

// Validate checks the run's values; a bad one is an *app.ConfigError.
func (c *Config) Validate() error {
	switch {
	case c.Calls < 1:
		return app.ConfigErrorf("%s must be at least 1", app.SettingCalls)
	case c.Concurrency < 1:
		return app.ConfigErrorf("%s must be at least 1", app.SettingConcurrency)
	case c.RampPerSec < 0 || c.RampPerSec > MaxRampPerSec || math.IsNaN(c.RampPerSec):
		return app.ConfigErrorf("invalid %s %g: want calls a second, at most %g", app.SettingRampPerSec, c.RampPerSec, MaxRampPerSec)
	case c.Hold < 0:
		return app.ConfigErrorf("%s must not be negative", app.SettingDuration)
	}
	return nil
}

// Call is one call of a run: its figures, and how it failed.
type Call struct {
	ID string
	report.LoadCall
	Err       error // the call's failure (wrapping the call package's sentinels)
	RecordErr error // its recording's
}

// Result is a run, or several merged: every call, in the order placed, and
// what the process used.
type Result struct {
	Calls       int     // asked for
	Concurrency int     // at most in progress at once
	RampPerSec  float64 // 0: no ramp
	Placed      int
	Elapsed     time.Duration
	// CPU is the process's CPU time over the run, PeakRSSBytes its peak
	// resident memory (-1 when unknown).
	CPU          time.Duration
	PeakRSSBytes int64
	Results      []Call
}

// Run opens a softphone for phone, places cfg.Calls calls from it to
// cfg.Callee, cfg.Concurrency at a time and at most cfg.RampPerSec a
// second, until all are placed or ctx is done, and returns once every call
// has ended and the softphone is closed. The error is why the softphone
// could not open (no result), or the store's (ErrStore: samples lost; the
// result stands).
func Run(ctx context.Context, phone app.Config, cfg Config) (*Result, error) {
	started := time.Now()
	if phone.Logger == nil {
		phone.Logger = slog.New(slog.DiscardHandler)
	}
	usageAtStart := app.ProcessUsage()
	cfg.Concurrency = min(cfg.Concurrency, cfg.Calls)
	tally := &tally{byID: map[string]*loadCall{}, progress: cfg.Progress}
	phone.Observers = append(phone.Observers[:len(phone.Observers):len(phone.Observers)], tally)
	sp, err := app.Open(ctx, phone)
	if err != nil {
		return nil, err
	}
	placed := placeCalls(ctx, cfg, sp, phone.Logger, tally)
	storeErr := sp.Close()
	usage := app.ProcessUsage()
	res := &Result{
		Calls: cfg.Calls, Concurrency: cfg.Concurrency, RampPerSec: cfg.RampPerSec, Placed: placed,
		Elapsed: time.Since(started), CPU: usage.CPU - usageAtStart.CPU, PeakRSSBytes: usage.PeakRSSBytes,
	}
	for _, lc := range tally.list {
		res.Results = append(res.Results, Call{ID: lc.c.ID(), LoadCall: lc.sum, Err: lc.err, RecordErr: lc.recErr})
	}
	return res, storeErr
}

// placeCalls places the calls and returns how many it placed once every
// call has ended.
func placeCalls(ctx context.Context, cfg Config, sp *app.Softphone, log *slog.Logger, tally *tally) int {
	slots := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	var every time.Duration
	if cfg.RampPerSec > 0 {
		every = time.Duration(float64(time.Second) / cfg.RampPerSec)
	}
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range cfg.Calls {
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
		c, err := sp.Phone.Dial(ctx, cfg.Callee)
		if err != nil {
			<-slots
			if ctx.Err() == nil {
				// The phone is closed or the callee empty: nothing
				// more can go.
				log.Error("cannot place call", "err", err)
			}
			return i
		}
		lc := tally.add(c)
		if cfg.Progress != nil {
			cfg.Progress.Placed(c.ID())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			follow(ctx, cfg, sp, c)
			tally.finish(lc)
		}()
	}
	return cfg.Calls
}

// follow holds one call of the run until it has ended.
func follow(ctx context.Context, cfg Config, sp *app.Softphone, c *call.Call) {
	var onConnected func()
	if cfg.Progress != nil {
		onConnected = func() { cfg.Progress.Connected(c.ID(), c.SetupTime()) }
	}
	up := app.Hold(ctx, c, cfg.Hold, onConnected)
	failed := c.Err() != nil
	if cfg.Progress != nil {
		cfg.Progress.Ended(c.ID(), up, failed)
	}
	if failed {
		sp.Log.Warn(app.Describe(c), "err", c.Err())
	} else {
		sp.Log.Info(app.Describe(c))
	}
}

// loadCall is what a run keeps of one call.
type loadCall struct {
	c          *call.Call
	z          *report.Summarizer // fed by every sample of the call
	remoteLost float64            // what the far end reported lost, as of the last sample
	sum        report.LoadCall    // once it has ended
	err        error              // the call's failure, if any
	recErr     error              // its recording's
}

// tally holds a run's calls; it is an app.Observer of the softphone. The
// collector feeds samples to it from its goroutine; a call's summarizer
// is read only once the call has ended, after its last sample.
type tally struct {
	mu       sync.Mutex
	byID     map[string]*loadCall
	list     []*loadCall // in the order placed
	progress Progress
}

func (t *tally) add(c *call.Call) *loadCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	lc := t.byID[c.ID()]
	if lc == nil { // no sample came first
		lc = &loadCall{z: &report.Summarizer{}}
		t.byID[c.ID()] = lc
	}
	lc.c = c
	t.list = append(t.list, lc)
	return lc
}

// Hooks implements app.Observer: the run follows its calls itself.
func (t *tally) Hooks() call.Hooks { return call.Hooks{} }

// OnSampleError implements app.Observer: a failed sample shows in the
// call's figures.
func (t *tally) OnSampleError(string, string, error) {}

// OnSample implements app.Observer.
func (t *tally) OnSample(s stats.Sample) {
	t.mu.Lock()
	lc := t.byID[s.CallID]
	if lc == nil { // a sample before Dial returned
		lc = &loadCall{z: &report.Summarizer{}}
		t.byID[s.CallID] = lc
	}
	z := lc.z
	t.mu.Unlock()
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
	if t.progress != nil {
		received, lost := z.Inbound()
		t.progress.Packets(s.CallID, received, lost)
	}
}

// finish makes the call's summary once it has ended.
func (t *tally) finish(lc *loadCall) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sum := lc.z.Summary()
	sum.SetCall(lc.c.Record(), lc.c.EndRecord())
	lc.sum = report.LoadCall{CallSummary: sum, RemotePacketsLost: lc.remoteLost}
	if sum.DurationMs != nil {
		lc.sum.PacketsExpected = math.Floor(*sum.DurationMs / float64(audio.FrameTime/time.Millisecond))
	}
	lc.err, lc.recErr = lc.c.Err(), lc.c.RecordErr()
	lc.z = nil
	delete(t.byID, lc.c.ID())
}

// Merge joins the results of runs that went at the same time (one per
// host): every call is kept, so the report's percentiles are over all of
// them. Calls, Concurrency, Placed, RampPerSec and CPU add up; Elapsed and
// PeakRSSBytes are the largest of any run.
func Merge(results ...*Result) *Result {
	m := &Result{PeakRSSBytes: -1}
	for _, r := range results {
		if r == nil {
			continue
		}
		m.Calls += r.Calls
		m.Concurrency += r.Concurrency
		m.RampPerSec += r.RampPerSec
		m.Placed += r.Placed
		m.CPU += r.CPU
		m.Elapsed = max(m.Elapsed, r.Elapsed)
		m.PeakRSSBytes = max(m.PeakRSSBytes, r.PeakRSSBytes)
		m.Results = append(m.Results, r.Results...)
	}
	return m
}
