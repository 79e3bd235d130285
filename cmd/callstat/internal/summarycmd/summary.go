// Package summarycmd implements "callstat summary": one row per stored call,
// and quality gates on them.
package summarycmd

import (
	"context"
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/cmd/callstat/internal/ui"
	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/stats/report"
)

// Options are summary's flags and dependencies.
type Options struct {
	Factory     *cmdutil.Factory
	Store       string
	Participant string
	JSON        bool
	Assert      string
	Assertions  report.Assertions
	// --nats: the stored calls of every load agent (docs/scale-out.md).
	cmdutil.NATSFlags
	Wait time.Duration
}

// NewCmdSummary builds the command; runF replaces the run function in tests.
func NewCmdSummary(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "summary",
		Short: "Summarise the stored calls, and fail when one breaches --assert",
		Long: `Print one row per call in the store: call id, participant, start, duration,
how it ended, setup time, packets sent and received, inbound loss, jitter and
round-trip time (p50/p95 over the samples) and the MOS estimate (worst and
mean interval). --participant limits it to one participant's ring; by
default every participant's calls are listed.

--assert checks every listed call against quality limits and exits 13 when
any is breached, with one line per breach on stderr:

` + report.AssertGrammar + `

A figure that was never measured (no MOS for a call that never connected)
breaches its assertion.

With --nats, the calls come from every "callstat agent" that answers on that
NATS within --agents-wait, one table per agent (--json: one object per agent,
{"agent", "calls", "error"}); --assert checks them all.`,
		Example: `  callstat summary
  callstat summary --participant bob@example.com --json | jq '.[].mosMean'
  callstat summary -p bob@example.com --assert 'mos>=4.0,loss<=1%,rtt<=150ms,jitter<=30ms'
  callstat summary --nats nats://127.0.0.1:4222 -p bob@example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			as, err := cmdutil.ParseAssertFlag(opts.Assert)
			if err != nil {
				return err
			}
			opts.Assertions = as
			if err := opts.ValidateNATS(); err != nil {
				return err
			}
			if opts.Wait <= 0 {
				return cmdutil.FlagErrorf("--agents-wait must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Enabled() {
				return fleetSummaryRun(cmd.Context(), opts)
			}
			return summaryRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Store, "store", f.DefaultStorePath(), "stats store file (env "+cmdutil.EnvStore+")")
	cmd.Flags().StringVarP(&opts.Participant, "participant", "p", "", "only this participant's calls (the caller's --from or the answerer's --as)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array of summaries instead of a table")
	cmdutil.AddAssertFlag(cmd, &opts.Assert)
	cmdutil.AddNATSFlags(cmd, f, &opts.NATSFlags, "fetch the calls stored by the load agents on this NATS")
	cmd.Flags().DurationVar(&opts.Wait, "agents-wait", defaultWait, "with --nats: how long to wait for the agents to answer")
	return cmd
}

// summaryRun prints the summaries and checks the assertions.
func summaryRun(ctx context.Context, opts *Options) error {
	f := opts.Factory
	rows, err := app.Summaries(ctx, opts.Store, "set --store or "+cmdutil.EnvStore, opts.Participant)
	if err != nil {
		return err
	}
	if opts.JSON {
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else if err := ui.PrintSummaryTable(f.IO.Out, rows); err != nil {
		return err
	}
	return f.Output().CheckAssertions(opts.Assertions, rows)
}
