package signaling

// Conn is a phone's signaling session as the phone sees it, whatever carries
// it on the wire: callstat's own WebSocket protocol (*Client) or SIP over
// WebSocket (package sip), which translates SIP transactions to and from
// these messages. A phone sends call, ringing, answer, candidate, reject,
// end and update; it receives incoming, trying, ringing, answer, candidate,
// end, update and error.
type Conn interface {
	// Send hands a message to the far side; an error means it was not sent.
	Send(m Message) error
	// Messages delivers what arrives. It is closed when the session ends;
	// Err then says why.
	Messages() <-chan Message
	// Err is why the session ended (nil while it runs).
	Err() error
	// Close ends the session (un-registering where the protocol has
	// registrations) and waits for its goroutines.
	Close() error
}

var _ Conn = (*Client)(nil)
