// Package callcmd implements "callstat call": place one anonymous call.
package callcmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/stats/report"
)

// Options are call's flags and dependencies.
type Options struct {
	Factory *cmdutil.Factory
	cmdutil.ClientFlags
	Callee        string
	From          string
	Duration      time.Duration
	AnswerTimeout time.Duration
	Assert        string
	Assertions    report.Assertions

	// Load mode (load.go): any of --calls, --concurrency, --ramp given.
	Load        bool
	Calls       int
	Concurrency int
	Ramp        string
	RampPerSec  float64 // parsed --ramp; 0: as fast as --concurrency allows
}

// NewCmdCall builds the command; runF replaces the run function in tests.
func NewCmdCall(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "call [<callee>] --from <caller> | --token-file F | --token-url U",
		Short: "Place an anonymous audio call and record its statistics",
		Long: `Place an anonymous, audio-only call to a registered participant. Statistics are
sampled every --interval from the moment the call is placed until either side
hangs up, and stored in the caller's ring of five calls (the --from id).

The call sends --audio (the default microphone unless told otherwise) and,
with --record, writes what it hears to a WAV file. It hangs up after
--duration once connected, on Ctrl-C, or when the far end hangs up. Its
summary (as "callstat summary" shows it) is printed on stderr at the end.
The exit code says how it went (see the README's table).

The call id is printed on stdout, unless --events - sends the event stream
there (its call:start line carries the id). On a terminal, a status line shows
the call's state, time, RTT, jitter, loss and bitrates.

Load mode: --calls N places N calls, --concurrency C at a time (--ramp R
placing at most R a second), each sampled and stored as usual, and prints
the run's summary at the end: calls placed, connected and failed, setup
time p50/p95/p99, loss, jitter, RTT, MOS, and this process's CPU and
memory. --duration applies to each call, --assert to the whole run. The
exit code is 0 when every call connected and ended normally; otherwise that
of the most severe failure (see the README).

With --token-file or --token-url the call carries the token set, for servers
that require tokens; the callee and --from then default to the parameters'
callee and caller.

--assert checks the call against quality limits once it ended normally and
exits 13 when one is breached, with one line per breach on stderr:

` + report.AssertGrammar,
		Example: `  callstat call alice@example.com --from bob@example.com --duration 10s
  callstat call alice@example.com --from bob@example.com --audio tone:1000 --server ws://10.0.0.5:8080/ws
  callstat call alice@example.com --from bob@example.com --audio file:speech.wav --record heard.wav
  callstat call alice@example.com --from bob@example.com --events - | jq -c 'select(.type == "call:stateChange")'
  callstat call --token-url http://127.0.0.1:3000/callparameters --duration 10s
  callstat call alice@example.com --from bob@example.com --duration 30s --assert 'mos>=4.0,loss<=1%,rtt<=150ms'
  callstat call alice@example.com --from bob@example.com --audio tone --duration 60s --calls 500 --concurrency 500 --ramp 50`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 && (len(args) != 0 || !opts.HasTokens()) {
				return cmdutil.FlagErrorf("call takes exactly one argument, the callee id (got %d)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if opts.Callee = strings.TrimSpace(args[0]); opts.Callee == "" {
					return cmdutil.FlagErrorf("the callee id must not be empty")
				}
			}
			if strings.TrimSpace(opts.From) == "" && !opts.HasTokens() {
				return cmdutil.FlagErrorf("--from is required: the caller's id, e.g. --from bob@example.com")
			}
			if opts.Duration < 0 {
				return cmdutil.FlagErrorf("--duration must not be negative")
			}
			if opts.AnswerTimeout <= 0 {
				return cmdutil.FlagErrorf("--answer-timeout must be positive")
			}
			if err := opts.Validate(); err != nil {
				return err
			}
			as, err := cmdutil.ParseAssertFlag(opts.Assert)
			if err != nil {
				return err
			}
			opts.Assertions = as
			fl := cmd.Flags()
			opts.Load = fl.Changed("calls") || fl.Changed("concurrency") || fl.Changed("ramp")
			if opts.Load && !fl.Changed("decode") {
				// Decoding is most of what a call costs: a load run only
				// counts what it receives unless told, or recording.
				opts.Decode = opts.Record != ""
			}
			if err := opts.validateLoad(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Load {
				return RunLoad(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmdutil.AddClientFlags(cmd, f, &opts.ClientFlags)
	cmd.Flags().StringVar(&opts.From, "from", f.Getenv("CALLSTAT_FROM"), "caller id; also the participant whose ring stores the call (env CALLSTAT_FROM)")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 0, "hang up this long after the call connects (0: wait for the far end or Ctrl-C)")
	cmd.Flags().DurationVar(&opts.AnswerTimeout, "answer-timeout", 60*time.Second, "give up if the call is not answered within this time")
	cmdutil.AddAssertFlag(cmd, &opts.Assert)
	addLoadFlags(cmd, opts)
	return cmd
}

// Run places the call and waits for it to end.
func Run(ctx context.Context, opts *Options) error {
	f := opts.Factory
	if err := opts.LoadTokens(ctx, f); err != nil {
		return err
	}
	if t := opts.Tokens; t != nil { // explicit ids win: the server judges them
		opts.Callee, opts.From = cmp.Or(opts.Callee, t.Callee), cmp.Or(strings.TrimSpace(opts.From), t.Caller)
	}
	sp, err := cmdutil.OpenSoftphone(ctx, f, &opts.ClientFlags, opts.From, false, call.Hooks{}, opts.AnswerTimeout)
	if err != nil {
		return err
	}
	c, err := sp.Phone.Dial(ctx, opts.Callee)
	if err != nil {
		return errors.Join(err, sp.Close())
	}
	if !sp.Live.EventsOnStdout() { // with --events -, call:start carries the id
		fmt.Fprintln(f.IO.Out, c.ID())
	}

	hold(ctx, c, opts.Duration, nil)
	// The call's last sample and end are committed before Done closes.
	sum, sumErr := cmdutil.PrintCallSummary(f, sp, c)
	sp.Log.Info(cmdutil.Describe(c))
	storeErr := sp.Close()
	if err := c.Err(); err != nil {
		return errors.Join(fmt.Errorf("call %s: %w", c.ID(), err), storeErr)
	}
	if err := c.RecordErr(); err != nil {
		return errors.Join(fmt.Errorf("call %s: %w", c.ID(), err), storeErr)
	}
	if opts.Record != "" && c.ReceivedAudio().TotalSamplesReceived > 0 {
		f.Logger.Info("received audio recorded", "file", opts.Record)
	}
	if storeErr != nil || len(opts.Assertions) == 0 {
		return storeErr
	}
	if sumErr != nil {
		return fmt.Errorf("%w: cannot check --assert: %v", cmdutil.ErrStore, sumErr)
	}
	return cmdutil.CheckAssertions(f, opts.Assertions, []report.CallSummary{sum})
}

// hold keeps a call until it has ended: once it is connected, it hangs up
// after duration (0: never, the far end ends it); a cancelled ctx (a
// signal) hangs up at once. onConnected, if not nil, runs when the call
// connects. hold reports whether the call connected.
func hold(ctx context.Context, c *call.Call, duration time.Duration, onConnected func()) bool {
	defer func() { <-c.Done() }()
	select {
	case <-c.Connected():
	case <-ctx.Done():
		c.Hangup("interrupted by signal")
		return false
	case <-c.Done():
		return false
	}
	if onConnected != nil {
		onConnected()
	}
	var timeout <-chan time.Time
	if duration > 0 {
		t := time.NewTimer(duration)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		c.Hangup(fmt.Sprintf("call duration %s reached", duration))
	case <-ctx.Done():
		c.Hangup("interrupted by signal")
	case <-c.Done():
	}
	return true
}
