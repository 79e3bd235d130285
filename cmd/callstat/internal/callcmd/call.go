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
	"github.com/callstat/callstat/cmd/callstat/internal/ui"
	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/metrics"
	"github.com/callstat/callstat/pkg/runreport"
	"github.com/callstat/callstat/pkg/stats/report"
)

// Options are call's flags and dependencies.
type Options struct {
	Factory *cmdutil.Factory
	cmdutil.ClientFlags
	cmdutil.ReportFlags
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

	// Distributed load mode (fleet.go): --agents K --nats URL.
	fleetFlags
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

Distributed load mode: with --agents K --nats URL the calls are placed by K
"callstat agent" processes on other hosts instead of this one, split by
their capacity and started together; this process shows their progress and
one summary for the whole run (percentiles over every call) after a line per
agent. --assert applies to the whole run. An agent lost mid-run has its
calls counted as failed and the run exits 14 (docs/scale-out.md).
"{agent}" in the callee is each agent's --name: one answerer per agent.

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
  callstat call alice@example.com --from bob@example.com --audio tone --duration 10s --report report.json --junit junit.xml
  callstat call alice@example.com --from bob@example.com --audio tone --duration 60s --calls 500 --concurrency 500 --ramp 50
  callstat call alice@example.com --from bob@example.com --audio tone --duration 60s --calls 200 --concurrency 200 --ramp 50 --agents 2 --nats nats://127.0.0.1:4222
  callstat call 'alice-{agent}@example.com' --from bob@example.com --audio tone --duration 60s --calls 400 --concurrency 400 --agents 2 --nats nats://127.0.0.1:4222`,
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
			if err := opts.ValidateReports(); err != nil {
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
			if err := opts.validateFleet(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Agents > 0 {
				return fleetRun(cmd.Context(), opts)
			}
			if opts.Load {
				return loadRun(cmd.Context(), opts)
			}
			return callRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddClientFlags(cmd, f, &opts.ClientFlags)
	cmd.Flags().StringVar(&opts.From, "from", f.Getenv("CALLSTAT_FROM"), "caller id; also the participant whose ring stores the call (env CALLSTAT_FROM)")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 0, "hang up this long after the call connects (0: wait for the far end or Ctrl-C)")
	cmd.Flags().DurationVar(&opts.AnswerTimeout, "answer-timeout", 60*time.Second, "give up if the call is not answered within this time")
	cmdutil.AddAssertFlag(cmd, &opts.Assert)
	cmdutil.AddReportFlags(cmd, &opts.ReportFlags)
	addLoadFlags(cmd, opts)
	addFleetFlags(cmd, f, opts)
	return cmd
}

// callRun places the call and waits for it to end. The reports are
// written however it ends.
func callRun(ctx context.Context, opts *Options) (err error) {
	f := opts.Factory
	rep := opts.StartReport(f, opts.reportRun(runreport.ModeSingle))
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
	live, err := cmdutil.OpenLive(f, opts.Events, nil)
	if err != nil {
		return err
	}
	out := f.Output()
	cfg := opts.Config(f, opts.From, observers(live, phoneMetrics)...)
	cfg.AnswerTimeout = opts.AnswerTimeout
	res, err := app.Call(ctx, cfg, app.CallConfig{
		Callee:   opts.Callee,
		Duration: opts.Duration,
		Placed: func(c *call.Call) {
			if !live.EventsOnStdout() { // with --events -, call:start carries the id
				fmt.Fprintln(f.IO.Out, c.ID())
			}
		},
		// The call's summary, as "callstat summary" shows it.
		Ended: func(_ *call.Call, sum report.CallSummary, err error) {
			if err == nil {
				_ = out.Summaries([]report.CallSummary{sum})
			}
		},
	})
	err = errors.Join(err, live.Close())
	if res.Call != nil {
		sum := res.Summary
		if res.SummaryErr != nil { // the figures are lost; how it went is not
			sum = report.CallSummary{}
			sum.SetCall(res.Call.Record(), res.Call.EndRecord())
		}
		rep.AddCall(sum, callFailure(res.Call))
		rep.AddGates(opts.Assertions, sum, runreport.SubjectCall, err == nil && res.SummaryErr == nil)
	}
	if err != nil || len(opts.Assertions) == 0 {
		return opts.Explain(err)
	}
	if res.SummaryErr != nil {
		return fmt.Errorf("%w: cannot check --assert: %v", app.ErrStore, res.SummaryErr)
	}
	return out.CheckAssertions(opts.Assertions, []report.CallSummary{res.Summary})
}

// callFailure is why a call failed: the call itself, else its recording
// (nil when it went well).
func callFailure(c *call.Call) error {
	if err := c.Err(); err != nil {
		return fmt.Errorf("call %s: %w", c.ID(), err)
	}
	if err := c.RecordErr(); err != nil {
		return fmt.Errorf("call %s: %w", c.ID(), err)
	}
	return nil
}

// observers are the softphone's observers: the live view, and the
// metrics when --metrics-addr serves them.
func observers(live *ui.Live, m *metrics.Phone) []app.Observer {
	obs := []app.Observer{live}
	if m != nil {
		obs = append(obs, m)
	}
	return obs
}

// reportRun is what the report says was asked for.
func (opts *Options) reportRun(mode string) runreport.Run {
	run := opts.ClientRun(runreport.CommandCall, mode, opts.From)
	run.Callee, run.DurationMs, run.AnswerTimeoutMs = opts.Callee, opts.Duration.Milliseconds(), opts.AnswerTimeout.Milliseconds()
	run.Assert = opts.Assert
	if mode == runreport.ModeLoad {
		run.Calls, run.Concurrency, run.RampPerSecond = opts.Calls, opts.Concurrency, opts.RampPerSec
	}
	return run
}

// resolveIDs loads the token parameters, if asked for, and takes the
// callee and --from from them where not given: explicit ids win, the
// server judges them.
func (opts *Options) resolveIDs(ctx context.Context) error {
	if err := opts.LoadTokens(ctx, opts.Factory); err != nil {
		return err
	}
	if t := opts.Tokens; t != nil {
		opts.Callee, opts.From = cmp.Or(opts.Callee, t.Callee), cmp.Or(strings.TrimSpace(opts.From), t.Caller)
	}
	return nil
}
