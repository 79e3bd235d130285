package summarycmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/callstat/callstat/cmd/callstat/internal/ui"
	"github.com/callstat/callstat/pkg/app/load/fleet"
	"github.com/callstat/callstat/pkg/natsconn"
	"github.com/callstat/callstat/pkg/stats/report"
	"github.com/callstat/callstat/pkg/stats/store"
)

// agentRows are one agent's summaries, as --json prints them.
type agentRows struct {
	Agent string               `json:"agent"`
	Calls []report.CallSummary `json:"calls"`
	Error string               `json:"error,omitempty"`
}

// fleetSummaryRun prints the stored calls of every agent on NATS, one
// table (or JSON object) per agent, and checks the assertions on all.
func fleetSummaryRun(ctx context.Context, opts *Options) error {
	f := opts.Factory
	nc, err := natsconn.Connect(ctx, opts.NATSOptions(f, "callstat summary"))
	if err != nil {
		return err
	}
	defer nc.Close()
	agents, err := fleet.FetchSummaries(ctx, nc, opts.Wait, opts.Participant)
	if err != nil {
		return err
	}
	if len(agents) == 0 {
		return fmt.Errorf("%w: no agent answered on %s within %s", fleet.ErrAgents, natsconn.Redacted(opts.NATS), opts.Wait)
	}
	var all []report.CallSummary
	var out []agentRows
	var errs []error
	for _, a := range agents {
		r := agentRows{Agent: a.Agent.Name, Calls: a.Rows}
		if a.Err != nil {
			r.Error = a.Err.Error()
			if !errors.Is(a.Err, store.ErrNoParticipant) {
				errs = append(errs, fmt.Errorf("agent %s: %w", a.Agent.Name, a.Err))
			}
		}
		all = append(all, a.Rows...)
		out = append(out, r)
	}
	if opts.JSON {
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		for _, r := range out {
			fmt.Fprintf(f.IO.Out, "agent %s:\n", r.Agent)
			if r.Error != "" {
				fmt.Fprintf(f.IO.Out, "  %s\n", r.Error)
				continue
			}
			if err := ui.PrintSummaryTable(f.IO.Out, r.Calls); err != nil {
				return err
			}
		}
	}
	if len(all) == 0 && len(errs) == 0 {
		return fmt.Errorf("%w: none of the %d agents stores calls of %q", store.ErrNoParticipant, len(agents), opts.Participant)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return f.Output().CheckAssertions(opts.Assertions, all)
}

// defaultWait is how long summary and dump wait for agents to answer.
const defaultWait = 2 * time.Second
