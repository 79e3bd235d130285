// Package answercmd implements "callstat answer": register and auto-answer.
package answercmd

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/call"
)

// Options are answer's flags and dependencies.
type Options struct {
	Factory *cmdutil.Factory
	cmdutil.ClientFlags
	As       string
	Duration time.Duration
	MaxCalls int
	// Registered, when set (tests), is called once the phone is registered.
	Registered func()
}

// NewCmdAnswer builds the command; runF replaces the run function in tests.
func NewCmdAnswer(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	// An answerer may carry several calls: --record names one file each.
	opts := &Options{Factory: f, ClientFlags: cmdutil.ClientFlags{RecordEachCall: true}}
	cmd := &cobra.Command{
		Use:   "answer --as <id>",
		Short: "Register as a participant and auto-answer every incoming call",
		Long: `Register with the signaling server under --as and answer every incoming call,
several at once if they come. Statistics of each call are sampled every
--interval from the moment it is received until either side hangs up, and
stored in this participant's ring of five calls. Each call's summary (as
"callstat summary" shows it) is printed on stderr when it ends.

Each call sends --audio (the default microphone unless told otherwise); with
--record dir/x.wav each call's received audio is written to dir/x-<call id>.wav.

Runs until SIGINT/SIGTERM (which hangs up every call first), or until
--max-calls calls have ended. With --events, every call's events are written
as JSON lines; on a terminal, a status line per call in progress.

For servers that require tokens, --token-file or --token-url gives the token
parameters; the phone registers with the callee's token (toToken), or the
caller's if --as is the caller. --as defaults to the parameters' callee.`,
		Example: `  callstat answer --as alice@example.com
  callstat answer --as alice@example.com --duration 30s --max-calls 10 --audio tone:1000
  callstat answer --as alice@example.com --audio file:speech.wav --record heard/call.wav   # heard/call-<call id>.wav
  callstat answer --token-url http://127.0.0.1:3000/callparameters`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(opts.As) == "" && !opts.HasTokens() {
				return cmdutil.FlagErrorf("--as is required: the id to register, e.g. --as alice@example.com")
			}
			if opts.Duration < 0 || opts.MaxCalls < 0 {
				return cmdutil.FlagErrorf("--duration and --max-calls must not be negative")
			}
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmdutil.AddClientFlags(cmd, f, &opts.ClientFlags)
	cmd.Flags().StringVar(&opts.As, "as", f.Getenv("CALLSTAT_AS"), "participant id to register (env CALLSTAT_AS)")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 0, "hang up each call this long after it connects (0: let the caller hang up)")
	cmd.Flags().IntVar(&opts.MaxCalls, "max-calls", 0, "exit after this many calls have ended (0: run until signalled)")
	return cmd
}

// Run answers calls until ctx is cancelled, --max-calls is reached, or the
// signaling connection is lost.
func Run(ctx context.Context, opts *Options) error {
	f := opts.Factory
	var (
		mu    sync.Mutex
		ended int
	)
	finished := make(chan struct{})
	var finishOnce sync.Once
	// The hook needs the softphone that runs it; calls can only arrive
	// once it exists, but the pointer keeps that an explicit guarantee.
	var softphone atomic.Pointer[cmdutil.Softphone]
	hooks := call.Hooks{
		CallEnding: func(c *call.Call) {
			// The stats hook ran first and committed the call's end:
			// its summary is complete.
			if sp := softphone.Load(); sp != nil {
				_, _ = cmdutil.PrintCallSummary(f, sp, c)
			}
			mu.Lock()
			ended++
			n := ended
			mu.Unlock()

			if opts.MaxCalls > 0 && n >= opts.MaxCalls {
				finishOnce.Do(func() { close(finished) })
			}
		},
	}
	if err := opts.LoadTokens(ctx, f); err != nil {
		return err
	}
	if opts.Tokens != nil && strings.TrimSpace(opts.As) == "" {
		opts.As = opts.Tokens.Callee
	}
	sp, err := cmdutil.OpenSoftphone(ctx, f, &opts.ClientFlags, opts.As, true, hooks, 0)
	if err != nil {
		return err
	}
	softphone.Store(sp)
	if opts.Registered != nil {
		opts.Registered()
	}

	var (
		handlers  sync.WaitGroup
		recordErr error // the first call whose --record file failed
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
				err := handle(ctx, sp.Log, opts, c, stop)
				mu.Lock()
				if err != nil && recordErr == nil {
					recordErr = err
				}
				n := ended
				mu.Unlock()
				// For soaks: a leak shows as a trend across calls.
				f.Logger.Debug("process resources", append([]any{"callsEnded", n}, cmdutil.ProcessResources().LogAttrs()...)...)
			}()
		case <-finished:
			f.Logger.Info("reached --max-calls", "calls", opts.MaxCalls)
			break loop
		case <-ctx.Done():
			// The far end hears why; Close would only say "closed".
			for _, c := range sp.Phone.Calls() {
				c.Hangup("interrupted by signal")
			}
			break loop
		case <-sp.Phone.SignalingDone():
			runErr = sp.Phone.SignalingErr()
			f.Logger.Error("lost the signaling server; waiting for calls in progress to end", "err", runErr)
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

// handle answers one call and, with --duration, hangs it up in time. It
// returns once the call has ended (stop: the phone has closed, so the call
// has too), with the call's recording error.
func handle(ctx context.Context, log *slog.Logger, opts *Options, c *call.Call, stop <-chan struct{}) error {
	if err := c.Answer(ctx); err != nil {
		log.Warn("could not answer", "call", c.ID(), "err", err)
	}
	if opts.Duration > 0 {
		select {
		case <-c.Connected():
			t := time.NewTimer(opts.Duration)
			defer t.Stop()
			select {
			case <-t.C:
				c.Hangup("answerer duration " + opts.Duration.String() + " reached")
			case <-c.Done():
			case <-stop:
			}
		case <-c.Done():
		case <-stop:
		}
	}
	select {
	case <-c.Done():
		log.Info(cmdutil.Describe(c))
	case <-stop:
		<-c.Done()
	}
	if err := c.RecordErr(); err != nil {
		log.Error("recording failed", "call", c.ID(), "err", err)
		return fmt.Errorf("call %s: %w", c.ID(), err)
	}
	return nil
}
