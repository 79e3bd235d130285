package callcmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/cmd/callstat/internal/ui"
	"github.com/callstat/callstat/pkg/app/load/fleet"
	"github.com/callstat/callstat/pkg/natsconn"
	"github.com/callstat/callstat/pkg/stats/report"
)

// fleetFlags are the coordinator's: a load run spread over agents.
type fleetFlags struct {
	cmdutil.NATSFlags
	Agents          int
	DiscoverTimeout time.Duration
	AgentTimeout    time.Duration
}

func addFleetFlags(cmd *cobra.Command, f *cmdutil.Factory, opts *Options) {
	cmdutil.AddNATSFlags(cmd, f, &opts.NATSFlags, "with --agents: the NATS the agents listen on")
	fl := cmd.Flags()
	fl.IntVar(&opts.Agents, "agents", 0, "load mode: spread the calls over this many 'callstat agent' hosts (needs --nats)")
	fl.DurationVar(&opts.DiscoverTimeout, "agents-wait", fleet.DefaultDiscoverTimeout, "with --agents: how long to wait for enough agents")
	fl.DurationVar(&opts.AgentTimeout, "agent-timeout", fleet.DefaultTimeout, "with --agents: an agent silent this long is lost and its calls count as failed")
}

// validateFleet checks the coordinator's flags.
func (o *Options) validateFleet(cmd *cobra.Command) error {
	if err := o.ValidateNATS(); err != nil {
		return err
	}
	if !cmd.Flags().Changed("agents") {
		if o.Enabled() {
			return cmdutil.FlagErrorf("--nats on call needs --agents K: the number of load agents to spread the calls over")
		}
		return nil
	}
	switch {
	case o.Agents < 1:
		return cmdutil.FlagErrorf("--agents must be at least 1")
	case !o.Enabled():
		return cmdutil.FlagErrorf("--agents needs --nats: the NATS the agents listen on, e.g. --nats nats://10.0.0.2:4222")
	case !o.Load:
		return cmdutil.FlagErrorf("--agents spreads a load run: give --calls N too")
	case o.Events != "":
		return cmdutil.FlagErrorf("--events is written by each host's own process; it cannot be combined with --agents")
	case o.Record != "":
		return cmdutil.FlagErrorf("--record writes files on each agent's host; it cannot be combined with --agents")
	case o.DiscoverTimeout <= 0 || o.AgentTimeout <= 0:
		return cmdutil.FlagErrorf("--agents-wait and --agent-timeout must be positive")
	}
	return nil
}

// fleetRun coordinates a load run over opts.Agents agents and shows its
// summary: each agent's line, then the whole run's.
func fleetRun(ctx context.Context, opts *Options) error {
	f := opts.Factory
	if err := opts.resolveIDs(ctx); err != nil {
		return err
	}
	nc, err := natsconn.Connect(ctx, opts.NATSOptions(f, "callstat call --agents"))
	if err != nil {
		return err
	}
	defer nc.Close()
	phone := opts.Config(f, opts.From)
	phone.AnswerTimeout = opts.AnswerTimeout
	view := ui.NewLoad(opts.Calls, time.Now())
	live, err := cmdutil.OpenLive(f, "", view)
	if err != nil {
		return err
	}
	stopProgress := logProgress(f, view)
	out, err := fleet.Coordinate(ctx, fleet.CoordinatorConfig{
		Conn: nc, Logger: f.Logger, Version: f.Build.Version,
		Agents: opts.Agents, DiscoverTimeout: opts.DiscoverTimeout, Timeout: opts.AgentTimeout,
		Spec:     fleet.SpecFor(phone, opts.loadConfig(nil), opts.Audio),
		Progress: &loadProgress{view: view, ids: f.IO.Out},
		Enlisted: func(run string, shares []fleet.Share) {
			for _, s := range shares {
				f.Logger.Info("agent enlisted", "run", run, "agent", s.Name, "calls", s.Calls, "concurrency", s.Concurrency,
					"ramp", s.RampPerSec, "cpus", s.CPUs, "idle", s.Idle, "capacity", s.Capacity)
			}
		},
	})
	stopProgress()
	liveErr := live.Close()
	if err != nil {
		return errors.Join(err, liveErr)
	}
	if out.Ignored > 0 {
		f.Logger.Warn("messages ignored on the run's subject: unparsable or not from its agents", "count", out.Ignored)
	}
	output := f.Output()
	if err := output.AgentReports(out.Agents); err != nil {
		f.Logger.Warn("could not write the agents' summaries", "err", err)
	}
	res := out.Result
	rep := res.Report()
	if err := output.LoadReport(rep); err != nil {
		f.Logger.Warn("could not write the load summary", "err", err)
	}
	var errs []error
	results := make([]callResult, len(res.Results))
	for i, c := range res.Results {
		results[i] = callResult{id: c.ID, err: c.Err, recordErr: c.RecordErr}
	}
	if err := loadFailure(results, res.Placed, res.Calls); err != nil {
		errs = append(errs, err)
	}
	for _, a := range out.Agents {
		if a.Err != nil && !errors.Is(a.Err, fleet.ErrAgentLost) {
			errs = append(errs, fmt.Errorf("agent %s: %w", a.Name, a.Err))
		}
	}
	if liveErr != nil {
		errs = append(errs, liveErr)
	}
	if len(errs) > 0 || len(opts.Assertions) == 0 {
		return errors.Join(errs...)
	}
	return output.CheckAssertions(opts.Assertions, []report.CallSummary{rep.AsCallSummary()})
}
