package cmdutil

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/ui"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/events"
	"github.com/callstat/callstat/pkg/stats"
)

// Live is what a person and a script see while calls run: status lines on
// a terminal (when the factory has one) and the --events stream (when
// asked for). One per process, shared by its phones.
type Live struct {
	events   *events.Writer
	view     *ui.Calls // nil in load mode, which shows one line for the run
	stopView func()
	onStdout bool
}

// AddEventsFlag registers --events.
func AddEventsFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "events", "", "write call events as JSON lines to this file, or - for standard output (see docs/events.md)")
}

// OpenLive starts the status view and opens the events stream ("" for
// none, "-" for stdout). A file that cannot be created is a usage error.
func OpenLive(f *Factory, eventsPath string) (*Live, error) {
	return openLive(f, eventsPath, nil)
}

// OpenLoadLive is OpenLive for a load run: the status shows load, one line
// for the whole run, instead of a line per call.
func OpenLoadLive(f *Factory, eventsPath string, load *ui.Load) (*Live, error) {
	return openLive(f, eventsPath, load)
}

func openLive(f *Factory, eventsPath string, load *ui.Load) (*Live, error) {
	l := &Live{onStdout: eventsPath == "-"}
	if eventsPath != "" {
		w, err := events.Open(eventsPath, f.IO.Out, events.Config{Logger: f.Logger, Now: f.Now})
		if err != nil {
			return nil, &FlagError{Err: fmt.Errorf("--events %s: %w", eventsPath, err)}
		}
		l.events = w
	}
	switch {
	case f.Status == nil:
	case load != nil:
		l.stopView = f.Status.Show(load, ui.DefaultRefresh)
	default:
		l.view = &ui.Calls{OnChange: f.Status.Refresh}
		l.stopView = f.Status.Show(l.view, ui.DefaultRefresh)
	}
	return l, nil
}

// EventsOnStdout reports whether events go to standard output, which then
// carries nothing else.
func (l *Live) EventsOnStdout() bool { return l.onStdout }

// Hooks returns the call hooks that feed the view and the stream.
func (l *Live) Hooks() call.Hooks {
	var h call.Hooks
	if l.view != nil {
		h = h.Join(l.view.Hooks())
	}
	if l.events != nil {
		h = h.Join(l.events.Hooks())
	}
	return h
}

// OnSample feeds a stats sample to the view and the stream.
func (l *Live) OnSample(s stats.Sample) {
	if l.view != nil {
		l.view.OnSample(s)
	}
	if l.events != nil {
		l.events.OnSample(s)
	}
}

// OnSampleError reports a failed stats sample on the stream.
func (l *Live) OnSampleError(callID, participant string, err error) {
	if l.events != nil {
		l.events.OnSampleError(callID, participant, err)
	}
}

// Close removes the status lines and writes out the stream; an incomplete
// stream is an error (wrapping events.ErrWrite).
func (l *Live) Close() error {
	if l.stopView != nil {
		l.stopView()
	}
	if l.events != nil {
		return l.events.Close()
	}
	return nil
}
