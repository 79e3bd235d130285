// Package signaling implements callstat's WebSocket signaling: the wire
// protocol (this file), the server that routes calls between participants
// (server.go) and the client that softphones use to reach it (client.go).
//
// The protocol is documented for other implementers in docs/protocol.md;
// keep the two in step.
package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/callstat/callstat/pkg/signaling/token"
)

// ProtocolVersion is the value of the "v" field this package speaks.
const ProtocolVersion = 1

// MaxMessageBytes is the largest frame either side accepts. An SDP offer for
// an audio call is a few kilobytes; 64 KiB leaves room without inviting abuse.
const MaxMessageBytes = 64 << 10

// Type names a message.
type Type string

// Message types. The direction each one travels is in docs/protocol.md.
const (
	TypeWelcome    Type = "welcome"    // server -> client, first message on a connection
	TypeRegister   Type = "register"   // client -> server
	TypeRegistered Type = "registered" // server -> client
	TypeCall       Type = "call"       // caller -> server
	TypeTrying     Type = "trying"     // server -> caller: call accepted and routed
	TypeIncoming   Type = "incoming"   // server -> callee
	TypeRinging    Type = "ringing"    // callee -> caller (relayed)
	TypeAnswer     Type = "answer"     // callee -> caller (relayed)
	TypeCandidate  Type = "candidate"  // either party -> other (relayed)
	TypeReject     Type = "reject"     // callee -> server; caller receives "end"
	TypeEnd        Type = "end"        // either party -> other (relayed), or server -> party
	TypeUpdate     Type = "update"     // either party -> other (relayed): a new offer in a connected call; the reply is "answer"
	TypeError      Type = "error"      // server -> client
)

// Status codes carried by "end" and "reject". They follow SIP's meanings so
// that people who debug calls recognise them.
const (
	StatusNormal           = 200 // a party hung up after the call was answered
	StatusCalleeNotFound   = 404 // nobody is registered under the callee id
	StatusNoAnswer         = 408 // the callee did not answer in time
	StatusPeerUnavailable  = 480 // the other party's connection dropped
	StatusBusy             = 486 // the callee refused: busy
	StatusCancelled        = 487 // the caller gave up before the answer
	StatusMediaFailure     = 500 // ICE/DTLS failed or media stopped
	StatusServerShutdown   = 503 // the server is going away
	StatusDeclined         = 603 // the callee declined
	statusMin, statusLimit = 100, 700
)

// Error codes carried by "error" messages.
const (
	ErrCodeBadMessage         = "bad_message"         // not JSON, or a required field is missing
	ErrCodeUnsupportedVersion = "unsupported_version" // "v" is not ProtocolVersion
	ErrCodeUnknownType        = "unknown_type"        // "type" is not one this server knows
	ErrCodeAlreadyRegistered  = "already_registered"  // another live connection holds the id
	ErrCodeDuplicateCall      = "duplicate_call"      // callId is already in use
	ErrCodeUnknownCall        = "unknown_call"        // callId is not a call this server carries
	ErrCodeNotAParty          = "not_a_party"         // the sender is not a party to that call
	ErrCodeInvalidState       = "invalid_state"       // e.g. answering a call twice
	ErrCodeRateLimited        = "rate_limited"        // too many messages; the connection is closed
	ErrCodeLimitExceeded      = "limit_exceeded"      // too many registrations from one address
	ErrCodeIdleTimeout        = "idle_timeout"        // no registration and no call; the connection is closed

	// Token rejections, with the SDK's codes (package token).
	ErrCodeInvalidToken = token.CodeInvalidToken // 46: does not decrypt or verify, or not issued for that id
	ErrCodeInvalidRealm = token.CodeInvalidRealm // 64: credentials for another realm
	ErrCodeTokenExpired = token.CodeExpired      // 65: older than the server's validity window
	ErrCodeIncomplete   = token.CodeIncomplete   // call:7: a token or credential field is missing
)

// IsAuthCode reports whether an error code is a token rejection.
func IsAuthCode(code string) bool { return token.IsCode(code) }

// Candidate is an ICE candidate as a browser's RTCIceCandidateInit
// serialises it. An empty Candidate string means end of candidates.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Credentials carry a token set for token-based anonymous calls.
type Credentials struct {
	Realm        string `json:"realm,omitempty"`
	AccountToken string `json:"accountToken,omitempty"`
	FromToken    string `json:"fromToken,omitempty"`
	ToToken      string `json:"toToken,omitempty"`
}

// Message is every message of the protocol: one flat object whose "type"
// decides which of the other fields matter. Unknown fields are ignored so
// that newer peers can add fields without breaking older ones.
type Message struct {
	V    int  `json:"v"`
	Type Type `json:"type"`
	// RID is an optional request id chosen by the client; the server copies it
	// into the "registered" or "error" message that answers the request.
	RID string `json:"rid,omitempty"`

	CallID string `json:"callId,omitempty"`
	User   string `json:"user,omitempty"` // register, registered
	From   string `json:"from,omitempty"` // call, incoming
	To     string `json:"to,omitempty"`   // call, incoming
	SDP    string `json:"sdp,omitempty"`  // call (offer), incoming (offer), answer, update (offer)

	Candidate   *Candidate   `json:"candidate,omitempty"`
	Credentials *Credentials `json:"credentials,omitempty"`
	Token       string       `json:"token,omitempty"` // register, when the server has a realm

	Status int    `json:"status,omitempty"` // end, reject
	Reason string `json:"reason,omitempty"` // end, reject

	Code    string `json:"code,omitempty"`    // error
	Message string `json:"message,omitempty"` // error

	Server  string `json:"server,omitempty"`  // welcome: software name and version
	Session string `json:"session,omitempty"` // welcome: connection id, for logs
}

// ProtocolError is a message that could not be accepted, with the error
// code the server reports for it.
type ProtocolError struct {
	Code   string
	Detail string
}

func (e *ProtocolError) Error() string { return e.Code + ": " + e.Detail }

// Is makes errors.Is(err, ErrBadMessage) and friends work.
func (e *ProtocolError) Is(target error) bool {
	t, ok := target.(*ProtocolError)
	return ok && t.Detail == "" && t.Code == e.Code
}

// Sentinels for errors.Is on decode failures.
var (
	ErrBadMessage         = &ProtocolError{Code: ErrCodeBadMessage}
	ErrUnsupportedVersion = &ProtocolError{Code: ErrCodeUnsupportedVersion}
	ErrUnknownType        = &ProtocolError{Code: ErrCodeUnknownType}
)

func protoErr(code, format string, args ...any) error {
	return &ProtocolError{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Decode parses and validates one frame. It never panics, whatever the input.
func Decode(data []byte) (Message, error) {
	var m Message
	if len(data) > MaxMessageBytes {
		return m, protoErr(ErrCodeBadMessage, "message of %d bytes exceeds the %d-byte limit", len(data), MaxMessageBytes)
	}
	// json.Decoder accepts "null" as an empty object; a frame must be one.
	if body := bytes.TrimLeft(data, jsonSpace); len(body) > 0 && body[0] != '{' {
		return Message{}, protoErr(ErrCodeBadMessage, "not a JSON message object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Message{}, protoErr(ErrCodeBadMessage, "not a JSON message object: %v", err)
	}
	// Not dec.More: it reports false for a stray '}' or ']', which would let
	// `{...}}` through.
	if rest := bytes.TrimLeft(data[dec.InputOffset():], jsonSpace); len(rest) > 0 {
		return Message{}, protoErr(ErrCodeBadMessage, "trailing data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return m, err
	}
	return m, nil
}

// jsonSpace is the whitespace JSON allows between tokens.
const jsonSpace = " \t\r\n"

// Encode serialises a message, stamping the protocol version. It refuses
// (with ErrBadMessage) a frame larger than MaxMessageBytes: the receiver
// would drop the whole connection at its read limit. Re-encoding can grow a
// message (Go escapes '<', '>', '&', U+2028 and invalid UTF-8), so a relayed
// message can fail here although it was accepted on the way in.
func Encode(m Message) ([]byte, error) {
	m.V = ProtocolVersion
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxMessageBytes {
		return nil, protoErr(ErrCodeBadMessage, "%q message of %d bytes exceeds the %d-byte limit", clip(string(m.Type)), len(data), MaxMessageBytes)
	}
	return data, nil
}

// clip shortens a peer-supplied string for use inside an error text, so that
// echoing a huge field cannot make the answer itself too large to send.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Validate checks that a message carries the fields its type requires.
func (m Message) Validate() error {
	if m.V != ProtocolVersion {
		return protoErr(ErrCodeUnsupportedVersion, "protocol version %d is not supported; this server speaks v%d", m.V, ProtocolVersion)
	}
	need := func(field, value string) error {
		if strings.TrimSpace(value) == "" {
			return protoErr(ErrCodeBadMessage, "%q message needs a non-empty %q field", m.Type, field)
		}
		return nil
	}
	var err error
	switch m.Type {
	case TypeWelcome:
	case TypeRegister, TypeRegistered:
		err = need("user", m.User)
	case TypeCall:
		err = firstErr(need("callId", m.CallID), need("from", m.From), need("to", m.To), need("sdp", m.SDP))
	case TypeIncoming:
		err = firstErr(need("callId", m.CallID), need("from", m.From), need("to", m.To), need("sdp", m.SDP))
	case TypeAnswer, TypeUpdate:
		err = firstErr(need("callId", m.CallID), need("sdp", m.SDP))
	case TypeTrying, TypeRinging:
		err = need("callId", m.CallID)
	case TypeCandidate:
		err = need("callId", m.CallID)
		if err == nil && m.Candidate == nil {
			err = protoErr(ErrCodeBadMessage, "%q message needs a \"candidate\" object", m.Type)
		}
	case TypeReject, TypeEnd:
		err = need("callId", m.CallID)
		if err == nil && m.Status != 0 && (m.Status < statusMin || m.Status >= statusLimit) {
			err = protoErr(ErrCodeBadMessage, "status %d is out of range %d-%d", m.Status, statusMin, statusLimit-1)
		}
	case TypeError:
		err = need("code", m.Code)
	case "":
		err = protoErr(ErrCodeBadMessage, "message has no \"type\"")
	default:
		err = protoErr(ErrCodeUnknownType, "unknown message type %q", clip(string(m.Type)))
	}
	return err
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// StatusText is a short human description of a status code.
func StatusText(status int) string {
	switch status {
	case StatusNormal:
		return "call ended normally"
	case StatusCalleeNotFound:
		return "callee not found"
	case StatusNoAnswer:
		return "no answer"
	case StatusPeerUnavailable:
		return "peer unavailable"
	case StatusBusy:
		return "busy"
	case StatusCancelled:
		return "cancelled"
	case StatusMediaFailure:
		return "media failure"
	case StatusServerShutdown:
		return "server shutting down"
	case StatusDeclined:
		return "declined"
	case 0:
		return ""
	default:
		return fmt.Sprintf("status %d", status)
	}
}
