package signaling

import "errors"

// Registration and authentication failures, shared by every Conn
// implementation (package call re-exports them as ErrRegisterFailed and
// ErrAuth) so that a phone reports them the same way whatever carries its
// signaling.
var (
	// ErrRegisterFailed means the server refused the registration.
	ErrRegisterFailed = errors.New("registration refused")
	// ErrAuth means the server refused this party's credentials: tokens
	// on callstat's server, a digest password on a SIP server.
	ErrAuth = errors.New("authentication refused")
)
