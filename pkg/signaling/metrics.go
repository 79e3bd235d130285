package signaling

// Metrics is told what a Server does, for monitoring: pkg/metrics counts
// it for Prometheus. What the server carries at a given moment is read
// with Server.Load instead, so that a gauge can never drift from the
// truth. The methods run on the connections' goroutines and must not
// block; every argument comes from a fixed set (message types, error
// codes, status codes), never from what a client wrote.
type Metrics interface {
	// Connected: a WebSocket connection was accepted.
	Connected()
	// Refused: a connection was refused before the WebSocket upgrade,
	// for one of the Refused* reasons.
	Refused(reason string)
	// Registered: an id was registered (not again by its holder).
	Registered()
	// Received: a valid message arrived.
	Received(t Type)
	// Rejected: a message (or a connection: rate_limited, idle_timeout)
	// was answered with an error of this code, one of the ErrCode*.
	Rejected(code string)
	// CallRouted: a call reached its callee.
	CallRouted()
	// CallAnswered: the callee's answer reached the caller.
	CallAnswered()
	// CallEnded: a routed call ended with this status, or a call was
	// refused when placed (404: nobody registered; 503: shutting down).
	CallEnded(status int)
}

// Reasons a connection is refused before the upgrade (Metrics.Refused).
const (
	RefusedTooManyConnections = "too_many_connections" // HTTP 429: MaxConnsPerAddr
	RefusedShuttingDown       = "shutting_down"        // HTTP 503
)

// Load is what a server carries at one moment.
type Load struct {
	Connections   int
	Registrations int
	// Calls by state: routed to the callee and not answered yet
	// (ringing), or answered.
	CallsRinging  int
	CallsAnswered int
}

// Load reports what the server carries now.
func (s *Server) Load() Load {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := Load{Connections: len(s.conns), Registrations: len(s.users)}
	for _, r := range s.calls {
		if r.answered {
			l.CallsAnswered++
		} else {
			l.CallsRinging++
		}
	}
	return l
}

// noMetrics is the Metrics of a server that is not watched.
type noMetrics struct{}

func (noMetrics) Connected()      {}
func (noMetrics) Refused(string)  {}
func (noMetrics) Registered()     {}
func (noMetrics) Received(Type)   {}
func (noMetrics) Rejected(string) {}
func (noMetrics) CallRouted()     {}
func (noMetrics) CallAnswered()   {}
func (noMetrics) CallEnded(int)   {}
