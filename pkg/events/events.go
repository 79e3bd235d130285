// Package events turns what happens to calls into the SDK's events
// (call:start, call:receive, call:stateChange, call:mediaConnectionChange,
// call:statsReceived, call:error) and writes them as NDJSON, one object per
// line, for scripts. The format is documented in docs/events.md.
package events

import (
	"errors"

	"github.com/pion/webrtc/v4"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/stats"
)

// Event types, the SDK's names.
const (
	TypeStart           = "call:start"
	TypeReceive         = "call:receive"
	TypeStateChange     = "call:stateChange"
	TypeMediaConnection = "call:mediaConnectionChange"
	TypeStatsReceived   = "call:statsReceived"
	TypeError           = "call:error"
	// TypeConnection reports the phone's signaling connection: dropped,
	// reconnecting, connected again, or lost for good (no callId).
	TypeConnection = "connection:change"
)

// Event is one line of the stream. The SDK's payload fields are flattened
// next to type and timestamp, so that `jq 'select(.type == "...")'` reaches
// them directly; fields an event does not carry are left out.
type Event struct {
	Type string `json:"type"`
	// Timestamp is when the event happened, in Unix milliseconds.
	Timestamp int64 `json:"timestamp"`
	// Participant is this phone's identity: who saw the event (demo runs
	// two participants in one process).
	Participant string `json:"participant,omitempty"`
	CallID      string `json:"callId,omitempty"`
	// Direction, From and To describe the call on call:start and
	// call:receive.
	Direction string `json:"direction,omitempty"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	// State is the state entered, on call:stateChange and
	// call:mediaConnectionChange. The SDK leaves it out (its listeners look
	// the call up); a script reading a stream cannot.
	State      string      `json:"state,omitempty"`
	Previous   *Previous   `json:"previous,omitempty"`
	Transition *Transition `json:"transition,omitempty"`
	Error      *Error      `json:"error,omitempty"`
	// Attempt and RetryIn (ms) describe a reconnection on
	// connection:change.
	Attempt int   `json:"attempt,omitempty"`
	RetryIn int64 `json:"retryIn,omitempty"`
	// Result is the sample on call:statsReceived: the SDK entry, then every
	// stats object, as in the stats file.
	Result []stats.Object `json:"result,omitempty"`
}

// Previous is the state left. Hold flags are on call:stateChange only:
// who held the call in that state.
type Previous struct {
	State      string `json:"state"`
	LocalHold  *bool  `json:"localHold,omitempty"`
	RemoteHold *bool  `json:"remoteHold,omitempty"`
}

// Transition says why a call changed state.
type Transition struct {
	StatusCode int    `json:"statusCode"`
	ReasonText string `json:"reasonText"`
}

// Error is the SDK's {code, message}, plus a stable name for scripts.
type Error struct {
	Code    string `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// SDK error codes (the SDK's call error codes).
const (
	CodeGeneric          = "call:2"
	CodeInitMediaFailed  = "call:3"
	CodeUserMediaError   = "call:4"
	CodeInvalidState     = "call:6"
	CodeInvalidParameter = "call:7"
)

// errorNames maps callstat's sentinel errors to a code and a name; the first
// match wins.
var errorNames = []struct {
	err  error
	code string
	name string
}{
	{call.ErrAuth, CodeGeneric, "auth_refused"}, // before register_failed, which it can come with
	{call.ErrServerUnreachable, CodeGeneric, "server_unreachable"},
	{call.ErrSignalingLost, CodeGeneric, "signaling_lost"},
	{call.ErrServerShutdown, CodeGeneric, "server_shutdown"},
	{call.ErrRegisterFailed, CodeGeneric, "register_failed"},
	{call.ErrCalleeNotFound, CodeGeneric, "callee_not_found"},
	{call.ErrRejected, CodeGeneric, "rejected"},
	{call.ErrNoAnswer, CodeGeneric, "no_answer"},
	{call.ErrMediaFailure, CodeInitMediaFailed, "media_failure"},
	{call.ErrPeerLost, CodeGeneric, "peer_lost"},
	{call.ErrInterrupted, CodeGeneric, "interrupted"},
	{call.ErrProtocol, CodeGeneric, "protocol"},
	{call.ErrInvalidState, CodeInvalidState, "invalid_state"},
	{call.ErrClosed, CodeInvalidState, "closed"},
	{audio.ErrUserMedia, CodeUserMediaError, "user_media"},
}

// ErrorOf describes err as the SDK would.
func ErrorOf(err error) *Error {
	if err == nil {
		return nil
	}
	for _, n := range errorNames {
		if errors.Is(err, n.err) {
			return &Error{Code: n.code, Name: n.name, Message: err.Error()}
		}
	}
	return &Error{Code: CodeGeneric, Name: "generic", Message: err.Error()}
}

func flag(b bool) *bool { return &b }

// start is call:start for a call this phone placed, call:receive for one it
// received.
func start(c *call.Call) Event {
	ev := Event{Type: TypeStart, Participant: c.Local(), CallID: c.ID(), Direction: string(c.Direction()),
		From: c.Local(), To: c.Remote()}
	if c.Direction() == call.Incoming {
		ev.Type, ev.From, ev.To = TypeReceive, c.Remote(), c.Local()
	}
	return ev
}

func stateChange(c *call.Call, ch call.StateChange) Event {
	return Event{
		Type: TypeStateChange, Participant: c.Local(), CallID: ch.CallID, State: ch.State.String(),
		Previous:   &Previous{State: ch.Previous.String(), LocalHold: flag(ch.PreviousHold.Local), RemoteHold: flag(ch.PreviousHold.Remote)},
		Transition: &Transition{StatusCode: ch.Transition.StatusCode, ReasonText: ch.Transition.ReasonText},
		Error:      ErrorOf(ch.Error),
	}
}

func mediaChange(c *call.Call, previous, state webrtc.ICEConnectionState) Event {
	return Event{Type: TypeMediaConnection, Participant: c.Local(), CallID: c.ID(), State: state.String(),
		Previous: &Previous{State: previous.String()}}
}

func connectionChange(p *call.Phone, ch call.SignalingChange) Event {
	ev := Event{Type: TypeConnection, Participant: p.Identity(), State: string(ch.State), Attempt: ch.Attempt,
		RetryIn: ch.Delay.Milliseconds()}
	if ch.Err != nil && ch.State != call.SignalingReconnecting {
		ev.Error = ErrorOf(ch.Err)
	}
	return ev
}

func statsReceived(s stats.Sample) Event {
	return Event{Type: TypeStatsReceived, Participant: s.Participant, CallID: s.CallID, Result: s.Objects}
}
