package ui

import (
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/events"
	"github.com/callstat/callstat/pkg/stats"
)

// Live is what a person and a script see while calls run: status lines on
// a terminal and the events stream, each when there is one. One per
// process, shared by its softphones, whose observer it is
// (app.Observer).
type Live struct {
	events   *events.Writer
	view     *Calls // nil for a load run, which shows one line for the run
	stopView func()
	onStdout bool
}

// LiveConfig says what a Live shows.
type LiveConfig struct {
	// Terminal draws the status lines (nil: none, not a terminal).
	Terminal *Terminal
	// Load, when set, is the status: one line for a load run instead of
	// a line per call.
	Load *Load
	// Events is the events stream (nil: none); EventsOnStdout says it
	// goes to standard output, which then carries nothing else.
	Events         *events.Writer
	EventsOnStdout bool
}

// StartLive starts the status lines; Close removes them.
func StartLive(cfg LiveConfig) *Live {
	l := &Live{events: cfg.Events, onStdout: cfg.EventsOnStdout}
	switch {
	case cfg.Terminal == nil:
	case cfg.Load != nil:
		l.stopView = cfg.Terminal.Show(cfg.Load, DefaultRefresh)
	default:
		l.view = &Calls{OnChange: cfg.Terminal.Refresh}
		l.stopView = cfg.Terminal.Show(l.view, DefaultRefresh)
	}
	return l
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
// stream is an error (wrapping events.ErrWrite). Close the softphones
// first: the stream ends with their calls' last events.
func (l *Live) Close() error {
	if l.stopView != nil {
		l.stopView()
	}
	if l.events != nil {
		return l.events.Close()
	}
	return nil
}
