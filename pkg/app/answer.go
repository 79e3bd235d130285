package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/stats/report"
)

// AnswerConfig says how Answer takes calls.
type AnswerConfig struct {
	// Duration hangs up each call this long after it connects (0: let
	// the caller hang up).
	Duration time.Duration
	// MaxCalls stops answering once this many calls have ended (0: run
	// until ctx is done).
	MaxCalls int
	// Registered, if set, runs once the phone is registered and taking
	// calls.
	Registered func()
	// Answered, if set, sees each call once it has been answered (or
	// answering failed).
	Answered func(*call.Call)
	// Ended, if set, sees each call as it ends, once its end is committed
	// to the store, with its summary (or the error reading it). It runs
	// on the call's goroutine, before the softphone closes: it must not
	// block for long.
	Ended func(c *call.Call, sum report.CallSummary, err error)
}

// Answer registers cfg.Identity and answers every incoming call, several
// at once if they come, until ctx is done (every call is hung up first),
// ac.MaxCalls calls have ended, or the signaling server is lost for good
// (it waits for the calls in progress to end). It closes the softphone
// and returns once every call has ended: the store's error, else the
// signaling server's, else the first call whose recording failed.
func Answer(ctx context.Context, cfg Config, ac AnswerConfig) error {
	log := cfg.logger()
	var (
		mu    sync.Mutex
		ended int
	)
	finished := make(chan struct{})
	var finishOnce sync.Once
	// The hook needs the softphone that runs it; calls can only arrive
	// once it exists, but the pointer keeps that an explicit guarantee.
	var softphone atomic.Pointer[Softphone]
	cfg.Register = true
	cfg.Hooks = cfg.Hooks.Join(call.Hooks{
		CallEnding: func(c *call.Call) {
			// The stats hook ran first and committed the call's end:
			// its summary is complete.
			if sp := softphone.Load(); sp != nil && ac.Ended != nil {
				sum, err := sp.CallSummary(c)
				ac.Ended(c, sum, err)
			}
			mu.Lock()
			ended++
			n := ended
			mu.Unlock()
			if ac.MaxCalls > 0 && n >= ac.MaxCalls {
				finishOnce.Do(func() { close(finished) })
			}
		},
	})
	sp, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	softphone.Store(sp)
	if ac.Registered != nil {
		ac.Registered()
	}

	var (
		handlers  sync.WaitGroup
		recordErr error // the first call whose recording failed
		runErr    error
	)
	stop := make(chan struct{})
loop:
	for {
		select {
		case c := <-sp.Phone.Incoming():
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				err := handleIncoming(ctx, sp.Log, ac, c, stop)
				mu.Lock()
				if err != nil && recordErr == nil {
					recordErr = err
				}
				n := ended
				mu.Unlock()
				// For soaks: a leak shows as a trend across calls.
				log.Debug("process resources", append([]any{"callsEnded", n}, ProcessResources().LogAttrs()...)...)
			}()
		case <-finished:
			log.Info("reached the maximum number of calls", "calls", ac.MaxCalls)
			break loop
		case <-ctx.Done():
			// The far end hears why; Close would only say "closed".
			for _, c := range sp.Phone.Calls() {
				c.Hangup("interrupted by signal")
			}
			break loop
		case <-sp.Phone.SignalingDone():
			runErr = sp.Phone.SignalingErr()
			log.Error("lost the signaling server; waiting for calls in progress to end", "err", runErr)
			for _, c := range sp.Phone.Calls() {
				select {
				case <-c.Done():
				case <-ctx.Done():
				}
			}
			break loop
		}
	}
	if err := sp.Close(); err != nil && runErr == nil {
		runErr = err
	}
	// Every call has ended (Close waited for them): the handlers return.
	close(stop)
	handlers.Wait()
	if runErr == nil {
		runErr = recordErr
	}
	return runErr
}

// handleIncoming answers one call and, with ac.Duration, hangs it up in
// time. It returns once the call has ended (stop: the phone has closed,
// so the call has too), with the call's recording error.
func handleIncoming(ctx context.Context, log *slog.Logger, ac AnswerConfig, c *call.Call, stop <-chan struct{}) error {
	if err := c.Answer(ctx); err != nil {
		log.Warn("could not answer", "call", c.ID(), "err", err)
	}
	if ac.Answered != nil {
		ac.Answered(c)
	}
	if ac.Duration > 0 {
		select {
		case <-c.Connected():
			t := time.NewTimer(ac.Duration)
			defer t.Stop()
			select {
			case <-t.C:
				c.Hangup("answerer duration " + ac.Duration.String() + " reached")
			case <-c.Done():
			case <-stop:
			}
		case <-c.Done():
		case <-stop:
		}
	}
	select {
	case <-c.Done():
		log.Info(Describe(c))
	case <-stop:
		<-c.Done()
	}
	if err := c.RecordErr(); err != nil {
		log.Error("recording failed", "call", c.ID(), "err", err)
		return fmt.Errorf("call %s: %w", c.ID(), err)
	}
	return nil
}
