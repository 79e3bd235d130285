package cmdutil

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/events"
)

func TestOpenLive(t *testing.T) {
	f, out, _ := TestFactory(nil)
	l, err := OpenLive(f, "-", nil)
	if err != nil || !l.EventsOnStdout() {
		t.Fatalf("OpenLive(-) = %v, on stdout %v", err, l != nil && l.EventsOnStdout())
	}
	if err := l.Close(); err != nil || out.Len() != 0 {
		t.Errorf("Close = %v; stdout %q, want nothing written without events", err, out.String())
	}

	_, err = OpenLive(f, filepath.Join(t.TempDir(), "missing", "ev.ndjson"), nil)
	var fe *FlagError
	if !errors.As(err, &fe) || !errors.Is(err, events.ErrOpen) || ExitCodeFor(err) != ExitUsage {
		t.Errorf("OpenLive(unwritable) = %v, want a usage error wrapping events.ErrOpen", err)
	}
	if !strings.Contains(err.Error(), "--events") {
		t.Errorf("error %q does not name --events", err)
	}
}

// The call's outcome decides the exit code; an incomplete events stream
// only when the call went well.
func TestExitCodeOfAnIncompleteStream(t *testing.T) {
	streamErr := fmt.Errorf("%w: disk full", events.ErrWrite)
	if got := ExitCodeFor(streamErr); got != ExitError {
		t.Errorf("stream error alone: exit %d, want %d", got, ExitError)
	}
	if got := ExitCodeFor(errors.Join(fmt.Errorf("%w: x", call.ErrRejected), streamErr)); got != ExitRejected {
		t.Errorf("rejected call with a stream error: exit %d, want %d", got, ExitRejected)
	}
}
