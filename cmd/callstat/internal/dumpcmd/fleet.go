package dumpcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/callstat/callstat/pkg/app/load/fleet"
	"github.com/callstat/callstat/pkg/natsconn"
	"github.com/callstat/callstat/pkg/stats/format"
	"github.com/callstat/callstat/pkg/stats/store"
)

// defaultWait is how long dump waits for agents to answer.
const defaultWait = 2 * time.Second

// fleetDumpRun writes the participant's stats file of every agent on NATS
// into --out/<agent name>/ and prints the paths.
func fleetDumpRun(ctx context.Context, opts *Options) error {
	f := opts.Factory
	nc, err := natsconn.Connect(ctx, opts.NATSOptions(f, "callstat dump"))
	if err != nil {
		return err
	}
	defer nc.Close()
	agents, err := fleet.Discover(ctx, nc, opts.Wait)
	if err != nil {
		return err
	}
	if len(agents) == 0 {
		return fmt.Errorf("%w: no agent answered on %s within %s", fleet.ErrAgents, natsconn.Redacted(opts.NATS), opts.Wait)
	}
	written := 0
	var errs []error
	for _, a := range agents {
		d, err := fleet.FetchDump(ctx, nc, a, opts.Participant, opts.Format)
		if errors.Is(err, store.ErrNoParticipant) {
			f.Logger.Info("agent stores nothing for the participant", "agent", a.Name, "participant", opts.Participant)
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("agent %s: %w", a.Name, err))
			continue
		}
		dir := filepath.Join(opts.Out, a.Name)
		path, err := format.WriteFileAtomic(dir, d.Name, func(w io.Writer) error {
			_, err := w.Write(d.Data)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("agent %s: writing the stats file in %s: %w", a.Name, dir, err))
			continue
		}
		if d.Damaged > 0 {
			f.Logger.Warn("samples left out: their rows in the agent's store are damaged", "agent", a.Name, "samples", d.Damaged)
		}
		written++
		fmt.Fprintln(f.IO.Out, path)
		f.Logger.Info("stats file written", "agent", a.Name, "participant", opts.Participant, "path", path, "format", opts.Format)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if written == 0 {
		return fmt.Errorf("%w: none of the %d agents stores calls of %q", store.ErrNoParticipant, len(agents), opts.Participant)
	}
	return nil
}
