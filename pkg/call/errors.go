package call

import (
	"errors"

	"github.com/callstat/callstat/pkg/signaling"
)

// Why a call did not end normally. Call.Err wraps exactly one of these;
// check with errors.Is.
var (
	// ErrServerUnreachable: the signaling server could not be reached.
	ErrServerUnreachable = signaling.ErrUnreachable
	// ErrSignalingLost: the signaling connection dropped while it was needed.
	ErrSignalingLost = errors.New("signaling connection lost")
	// ErrRegisterFailed: the server refused the registration.
	ErrRegisterFailed = signaling.ErrRegisterFailed
	// ErrAuth: the server refused this phone's credentials: its tokens
	// (invalid, wrong realm, expired, or missing; the text carries the
	// server's code), or its SIP digest password (401/403/407).
	ErrAuth = signaling.ErrAuth
	// ErrCalleeNotFound: nobody is registered under the callee id.
	ErrCalleeNotFound = errors.New("callee not found")
	// ErrRejected: the callee declined or was busy.
	ErrRejected = errors.New("call rejected")
	// ErrNoAnswer: nobody answered before the answer timeout.
	ErrNoAnswer = errors.New("no answer")
	// ErrMediaFailure: ICE or DTLS failed, or media stopped flowing.
	ErrMediaFailure = errors.New("media failure")
	// ErrPeerLost: the other party vanished (its connection dropped).
	ErrPeerLost = errors.New("peer lost")
	// ErrInterrupted: the local user gave up before the call connected.
	ErrInterrupted = errors.New("interrupted before the call connected")
	// ErrServerShutdown: the signaling server ended the call while stopping.
	ErrServerShutdown = errors.New("signaling server shut down")
	// ErrProtocol: the far end or the server broke the protocol (bad SDP…).
	ErrProtocol = errors.New("signaling protocol error")
	// ErrClosed: the phone was closed.
	ErrClosed = errors.New("phone closed")
)

// errForStatus maps a remote "end" status to the error a call ends with;
// nil for a normal hang-up.
func errForStatus(status int, connected bool) error {
	switch status {
	case signaling.StatusNormal, 0:
		return nil
	case signaling.StatusCalleeNotFound:
		return ErrCalleeNotFound
	case statusUnauthorized, statusForbidden, statusProxyAuthRequired:
		// SIP: the server refused the caller's digest credentials.
		return ErrAuth
	case signaling.StatusNoAnswer:
		return ErrNoAnswer
	case signaling.StatusBusy, signaling.StatusDeclined:
		return ErrRejected
	case signaling.StatusCancelled:
		// The caller giving up is how a callee's call normally ends when
		// it was never answered: not an error for the callee.
		return nil
	case signaling.StatusPeerUnavailable:
		return ErrPeerLost
	case signaling.StatusMediaFailure:
		return ErrMediaFailure
	case signaling.StatusServerShutdown:
		return ErrServerShutdown
	default:
		if connected {
			return nil
		}
		return ErrRejected
	}
}

// SIP statuses of a refused digest authentication (package sip ends a call
// with them when its credentials are not accepted).
const (
	statusUnauthorized      = 401
	statusForbidden         = 403
	statusProxyAuthRequired = 407
)
