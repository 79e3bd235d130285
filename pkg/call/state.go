package call

import "fmt"

// State is a call's state, with the SDK's exact names (see
// docs/call-states.md for the diagram and who moves a call where).
type State int

// Call states.
const (
	StateInitiating State = iota // caller: created locally, offer not yet sent
	StateInitiated               // caller: the server accepted and routed the call; callee: offer received
	StateRinging                 // caller: the callee is alerting; callee: ringing sent, may answer
	StateEarlyMedia              // caller only; callstat never enters it (no early media over this protocol)
	StateCancelled               // callee only: the caller gave up before the answer (final)
	StateConnected               // answered, and ICE+DTLS are up
	StateOnHold                  // connected, with the media held by either side (a=sendonly/inactive)
	StateEnded                   // final
)

var stateNames = [...]string{
	StateInitiating: "Initiating",
	StateInitiated:  "Initiated",
	StateRinging:    "Ringing",
	StateEarlyMedia: "Early Media",
	StateCancelled:  "Cancelled",
	StateConnected:  "Connected",
	StateOnHold:     "On Hold",
	StateEnded:      "Ended",
}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// live reports whether a call in s is answered and not over: Connected or
// On Hold.
func (s State) live() bool { return s == StateConnected || s == StateOnHold }

// Final reports whether no transition leaves s.
func (s State) Final() bool { return s == StateEnded || s == StateCancelled }

// MarshalText writes the SDK's name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Direction says which side of a call this phone is.
type Direction string

// Directions.
const (
	Outgoing Direction = "outgoing" // this phone placed the call
	Incoming Direction = "incoming" // this phone received it
)

// transitions lists, per direction, the states a call may move to from each
// state. Anything else is a bug and is refused (and logged).
var transitions = map[Direction]map[State][]State{
	Outgoing: {
		StateInitiating: {StateInitiated, StateEnded},
		StateInitiated:  {StateRinging, StateConnected, StateEnded},
		StateRinging:    {StateConnected, StateEnded},
		StateConnected:  {StateOnHold, StateEnded},
		StateOnHold:     {StateConnected, StateEnded},
	},
	Incoming: {
		StateInitiated: {StateRinging, StateConnected, StateCancelled, StateEnded},
		StateRinging:   {StateConnected, StateCancelled, StateEnded},
		StateConnected: {StateOnHold, StateEnded},
		StateOnHold:    {StateConnected, StateEnded},
	},
}

// CanTransition reports whether a call of direction d may move from one
// state to another.
func CanTransition(d Direction, from, to State) bool {
	for _, s := range transitions[d][from] {
		if s == to {
			return true
		}
	}
	return false
}

// Transition describes why a call changed state, as the SDK's
// call:stateChange event does.
type Transition struct {
	StatusCode int    `json:"statusCode,omitempty"`
	ReasonText string `json:"reasonText,omitempty"`
}

// Hold says who holds a call's media: this phone (Call.Hold) and the far
// end (a re-offer with a=sendonly or a=inactive). Either makes the call
// On Hold.
type Hold struct {
	Local  bool `json:"localHold"`
	Remote bool `json:"remoteHold"`
}

// held reports whether either side holds the call.
func (h Hold) held() bool { return h.Local || h.Remote }

// StateChange is one recorded state change.
type StateChange struct {
	CallID   string `json:"callId"`
	Previous State  `json:"previous"`
	// PreviousHold is the hold flags of the state left (the SDK's
	// previous.localHold and previous.remoteHold).
	PreviousHold Hold       `json:"previousHold"`
	State        State      `json:"state"`
	Transition   Transition `json:"transition"`
	// Error is set when the change is a failure (call:error).
	Error error `json:"-"`
}
