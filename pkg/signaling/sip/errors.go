package sip

import (
	"errors"
	"fmt"

	"github.com/callstat/callstat/pkg/signaling"
)

// Errors of the user agent, checked with errors.Is. Registration failures
// also wrap signaling.ErrRegisterFailed (and signaling.ErrAuth when the
// server refused the credentials), which package call re-exports.
var (
	// ErrConfig: the Config is unusable (the text says which field).
	ErrConfig = errors.New("sip: bad configuration")
	// ErrBadID: an id is not a SIP URI nor user@host.
	ErrBadID = errors.New("sip: not a SIP address")
	// ErrUnusableSDP: an offer or answer that a WebRTC audio call cannot
	// use (the text names what is missing).
	ErrUnusableSDP = errors.New("unusable SDP")
	// ErrTimeout: the server sent no final response in time (Timer B).
	ErrTimeout = errors.New("sip: no response from the server")
)

// StatusError is a SIP final response that failed a request of the user
// agent (REGISTER, BYE…), with the status code and reason phrase.
type StatusError struct {
	Method string
	Code   int
	Reason string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d %s", e.Method, e.Code, e.Reason)
}

// registerError wraps a failed registration so that errors.Is finds
// signaling.ErrRegisterFailed, signaling.ErrAuth for refused credentials,
// and the StatusError with the SIP status.
func registerError(user string, code int, reason, hint string) error {
	se := &StatusError{Method: "REGISTER", Code: code, Reason: reason}
	if isAuthStatus(code) {
		return fmt.Errorf("%w: %w: %s: %w%s", signaling.ErrRegisterFailed, signaling.ErrAuth, user, se, hint)
	}
	return fmt.Errorf("%w: %s: %w%s", signaling.ErrRegisterFailed, user, se, hint)
}

func isAuthStatus(code int) bool { return code == 401 || code == 403 || code == 407 }
