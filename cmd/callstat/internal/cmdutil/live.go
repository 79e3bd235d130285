package cmdutil

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/ui"
	"github.com/callstat/callstat/pkg/events"
)

// AddEventsFlag registers --events.
func AddEventsFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "events", "", "write call events as JSON lines to this file, or - for standard output (see docs/events.md)")
}

// OpenLive opens the --events stream ("" for none, "-" for stdout) and
// starts the status lines when stderr is a terminal; load, when set, is
// the status of a load run. A file that cannot be created is a usage
// error.
func OpenLive(f *Factory, eventsPath string, load *ui.Load) (*ui.Live, error) {
	cfg := ui.LiveConfig{Terminal: f.Status, Load: load, EventsOnStdout: eventsPath == "-"}
	if eventsPath != "" {
		w, err := events.Open(eventsPath, f.IO.Out, events.Config{Logger: f.Logger, Now: f.Now})
		if err != nil {
			return nil, &FlagError{Err: fmt.Errorf("--events %s: %w", eventsPath, err)}
		}
		cfg.Events = w
	}
	return ui.StartLive(cfg), nil
}
