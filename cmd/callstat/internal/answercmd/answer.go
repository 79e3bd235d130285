// Package answercmd implements "callstat answer": register and auto-answer.
package answercmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/runreport"
	"github.com/callstat/callstat/pkg/stats/report"
)

// Options are answer's flags and dependencies.
type Options struct {
	Factory *cmdutil.Factory
	cmdutil.ClientFlags
	cmdutil.ReportFlags
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
  callstat answer --token-url http://127.0.0.1:3000/callparameters
  callstat answer --as alice@example.com --audio tone --report answerer.json --metrics-addr 127.0.0.1:9464`,
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
			if err := opts.ValidateReports(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return answerRun(cmd.Context(), opts)
		},
	}
	cmdutil.AddClientFlags(cmd, f, &opts.ClientFlags)
	cmd.Flags().StringVar(&opts.As, "as", f.Getenv("CALLSTAT_AS"), "participant id to register (env CALLSTAT_AS)")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 0, "hang up each call this long after it connects (0: let the caller hang up)")
	cmd.Flags().IntVar(&opts.MaxCalls, "max-calls", 0, "exit after this many calls have ended (0: run until signalled)")
	cmdutil.AddReportFlags(cmd, &opts.ReportFlags)
	return cmd
}

// answerRun answers calls until ctx is cancelled, --max-calls is reached,
// or the signaling connection is lost. The reports are written however it
// ends.
func answerRun(ctx context.Context, opts *Options) (err error) {
	f := opts.Factory
	run := opts.ClientRun(runreport.CommandAnswer, runreport.ModeAnswer, opts.As)
	run.DurationMs, run.MaxCalls = opts.Duration.Milliseconds(), opts.MaxCalls
	rep := opts.StartReport(f, run)
	defer func() { err = rep.Finish(ctx, err) }()
	phoneMetrics, stopMetrics, err := opts.StartMetrics(ctx, f)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if err := opts.LoadTokens(ctx, f); err != nil {
		return err
	}
	if opts.Tokens != nil && strings.TrimSpace(opts.As) == "" {
		opts.As = opts.Tokens.Callee
	}
	rep.SetParticipant(opts.As, "")
	live, err := cmdutil.OpenLive(f, opts.Events, nil)
	if err != nil {
		return err
	}
	obs := []app.Observer{live}
	if phoneMetrics != nil {
		obs = append(obs, phoneMetrics)
	}
	out := f.Output()
	err = app.Answer(ctx, opts.Config(f, opts.As, obs...), app.AnswerConfig{
		Duration:   opts.Duration,
		MaxCalls:   opts.MaxCalls,
		Registered: opts.Registered,
		// Each call's summary, as "callstat summary" shows it.
		Ended: func(c *call.Call, sum report.CallSummary, err error) {
			if err == nil {
				_ = out.Summaries([]report.CallSummary{sum})
			} else { // the figures are lost; how it went is not
				sum = report.CallSummary{}
				sum.SetCall(c.Record(), c.EndRecord())
			}
			var callErr error
			if c.Err() != nil {
				callErr = fmt.Errorf("call %s: %w", c.ID(), c.Err())
			}
			rep.AddCall(sum, callErr)
		},
	})
	return opts.Explain(errors.Join(err, live.Close()))
}
