// Package democmd implements "callstat demo": server, answerer and caller in
// one process over loopback.
package democmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/cmd/callstat/internal/ui"
	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/stats/collect"
)

// Options are demo's flags and dependencies.
type Options struct {
	Factory     *cmdutil.Factory
	Out         string
	Store       string
	Calls       int
	Duration    time.Duration
	Interval    time.Duration
	ICELoopback bool
	Events      string
}

// NewCmdDemo builds the command; runF replaces the run function in tests.
func NewCmdDemo(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a server, an answerer and a caller in one process and show the result",
		Long: `Start a signaling server on a free loopback port, register ` + app.DemoCallee + ` (sending a
440 Hz tone) and auto-answer, then call it from ` + app.DemoCaller + ` (sending 880 Hz) --calls
times for --duration each. Both participants' stats are written as stats files
under --out/<participant>/, and a per-call summary table is printed.

Media uses loopback addresses only: nothing leaves the machine. With
--events, both participants' events go to one stream; with --events - the
file paths and the table go to stderr, so that stdout carries events only.`,
		Example: `  callstat demo
  callstat demo --calls 3 --duration 5s --out artifacts/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Calls < 1 {
				return cmdutil.FlagErrorf("--calls must be at least 1")
			}
			if opts.Duration <= 0 || opts.Interval < 10*time.Millisecond {
				return cmdutil.FlagErrorf("--duration must be positive and --interval at least 10ms")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return demoRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Out, "out", "o", "demo-output", "directory for the stats files")
	cmd.Flags().StringVar(&opts.Store, "store", "", "stats store file (default: a temporary store, removed afterwards)")
	cmd.Flags().IntVar(&opts.Calls, "calls", 2, "number of calls to place")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 3*time.Second, "length of each call once connected")
	cmd.Flags().DurationVar(&opts.Interval, "interval", collect.DefaultInterval, "stats sampling interval")
	cmd.Flags().BoolVar(&opts.ICELoopback, "ice-loopback", true, "use loopback addresses only for media")
	cmdutil.AddEventsFlag(cmd, &opts.Events)
	return cmd
}

// demoRun runs the demo and shows where its files went and the calls'
// summary table.
func demoRun(ctx context.Context, opts *Options) error {
	f := opts.Factory
	live, err := cmdutil.OpenLive(f, opts.Events, nil)
	if err != nil {
		return err
	}
	out := f.IO.Out
	if live.EventsOnStdout() { // stdout carries the events only
		out = f.IO.ErrOut
	}
	res, err := app.Demo(ctx, app.DemoConfig{
		OutDir: opts.Out, StorePath: opts.Store, Calls: opts.Calls, Duration: opts.Duration, Interval: opts.Interval,
		ICELoopback: opts.ICELoopback, SDK: app.SDKInfo(f.Build.Version, f.InstanceID), Now: f.Now,
		Logger: f.Logger, StoredLogLevel: f.StoredLogLevel(), Observers: []app.Observer{live},
	})
	err = errors.Join(err, live.Close())
	for _, file := range res.Files {
		fmt.Fprintf(out, "%s: %d calls -> %s\n", file.Participant, file.Calls, file.Path)
	}
	if len(res.Summaries) > 0 {
		fmt.Fprintln(out)
		if perr := ui.PrintSummaryTable(out, res.Summaries); perr != nil {
			return errors.Join(err, perr)
		}
	}
	return err
}
