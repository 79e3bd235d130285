package cmdutil

import (
	"context"
	"errors"

	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/app/load/fleet"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/events"
	"github.com/callstat/callstat/pkg/natsconn"
	"github.com/callstat/callstat/pkg/stats/report"
	"github.com/callstat/callstat/pkg/stats/store"
)

// ExitCode is a process exit status. The table is in the README; keep the
// two in step.
type ExitCode int

// Exit codes.
const (
	ExitOK                ExitCode = 0  // the call connected and ended normally; the command did its job
	ExitError             ExitCode = 1  // anything not listed below
	ExitUsage             ExitCode = 2  // bad flag, argument or flag value
	ExitServerUnreachable ExitCode = 3  // the signaling server could not be reached or was lost
	ExitCalleeNotFound    ExitCode = 4  // nobody is registered under the callee id
	ExitRejected          ExitCode = 5  // the callee declined, was busy, or did not answer
	ExitMediaFailure      ExitCode = 6  // ICE/DTLS failed or media stopped
	ExitInterrupted       ExitCode = 7  // interrupted (SIGINT/SIGTERM) before the call connected
	ExitPeerLost          ExitCode = 8  // the other party vanished mid-call
	ExitAuth              ExitCode = 9  // the server refused the tokens, or none could be obtained
	ExitUserMedia         ExitCode = 10 // the local audio source could not be opened
	ExitStore             ExitCode = 11 // the stats store could not be opened or written
	ExitNoData            ExitCode = 12 // dump, summary: nothing stored for that participant
	ExitAssert            ExitCode = 13 // a quality assertion (--assert) was breached
	ExitAgents            ExitCode = 14 // a load agent was lost mid-run, or too few could be enlisted
)

// FlagError is a usage error: the message is shown with a hint to --help.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf makes a FlagError.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: errorf(format, args...)}
}

// ExitCodeFor maps an error to the documented exit code. This is the only
// place that decides exit codes.
func ExitCodeFor(err error) ExitCode {
	var fe *FlagError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &fe), errors.Is(err, natsconn.ErrConfig):
		return ExitUsage
	// Lost stats outrank how the call went: the artifact a CI job keeps is
	// incomplete, and that must not pass for a mere call failure.
	case errors.Is(err, store.ErrOpen), errors.Is(err, app.ErrStore):
		return ExitStore
	// A lost agent's calls have no figures: the run is incomplete.
	case errors.Is(err, fleet.ErrAgentLost), errors.Is(err, fleet.ErrAgents), errors.Is(err, fleet.ErrAgent):
		return ExitAgents
	case errors.Is(err, call.ErrAuth), errors.Is(err, app.ErrTokens), errors.Is(err, natsconn.ErrAuth):
		return ExitAuth
	case errors.Is(err, call.ErrServerUnreachable), errors.Is(err, call.ErrSignalingLost),
		errors.Is(err, call.ErrServerShutdown), errors.Is(err, natsconn.ErrUnreachable):
		return ExitServerUnreachable
	case errors.Is(err, call.ErrCalleeNotFound):
		return ExitCalleeNotFound
	case errors.Is(err, call.ErrRejected), errors.Is(err, call.ErrNoAnswer):
		return ExitRejected
	case errors.Is(err, call.ErrMediaFailure):
		return ExitMediaFailure
	case errors.Is(err, call.ErrInterrupted), errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, call.ErrPeerLost):
		return ExitPeerLost
	case errors.Is(err, audio.ErrUserMedia), errors.Is(err, audio.ErrBadSpec):
		return ExitUserMedia
	case errors.Is(err, store.ErrNoParticipant), errors.Is(err, store.ErrAmbiguous):
		return ExitNoData
	// A breach is only reported for a call that otherwise went well, so
	// it never hides a failure code; it outranks nothing but success.
	case errors.Is(err, report.ErrAssertionFailed):
		return ExitAssert
	// Last: an incomplete --events stream only decides the code when the
	// call itself went well.
	case errors.Is(err, events.ErrWrite):
		return ExitError
	default:
		return ExitError
	}
}
