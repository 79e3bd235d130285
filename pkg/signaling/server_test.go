package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/transport/v5/test"
)

// setUpCall has caller call to and returns once the server has answered
// "trying" and the callee has the offer.
func setUpCall(t *testing.T, caller, callee *Client, callID, from, to string) {
	t.Helper()
	send(t, caller, Message{Type: TypeCall, CallID: callID, From: from, To: to, SDP: offerSDP})
	if m := expect(t, caller, TypeTrying); m.CallID != callID {
		t.Fatalf("trying for %q, want %q", m.CallID, callID)
	}
	in := expect(t, callee, TypeIncoming)
	want := Message{V: ProtocolVersion, Type: TypeIncoming, CallID: callID, From: from, To: to, SDP: offerSDP}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("incoming is %+v, want %+v", in, want)
	}
}

func TestServerRegistration(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	first := dial(t, ts.url)
	second := dial(t, ts.url)

	reply, err := request(first, Message{Type: TypeRegister, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Type != TypeRegistered || reply.User != "alice" || reply.RID == "" {
		t.Fatalf("register answered with %+v; want registered alice carrying the rid", reply)
	}

	steps := []struct {
		name     string
		c        *Client
		user     string
		wantCode string // "" = accepted
	}{
		{"same connection again", first, "alice", ""},
		{"duplicate while the first lives", second, "alice", ErrCodeAlreadyRegistered},
		{"another id on the same connection", first, "alice-desk", ""},
		{"another id on the second connection", second, "bob", ""},
		{"second connection's id taken by the first", first, "bob", ErrCodeAlreadyRegistered},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.wantCode == "" {
				register(t, s.c, s.user)
				return
			}
			se := requestRefused(t, s.c, Message{Type: TypeRegister, User: s.user}, s.wantCode)
			if !strings.Contains(se.Message, s.user) {
				t.Errorf("refusal %q does not name %s", se.Message, s.user)
			}
		})
	}
	if h := ts.srv.Health(); h.Registered != 3 {
		t.Fatalf("Health().Registered = %d, want 3", h.Registered)
	}

	// Once the first connection is gone its ids are free.
	_ = first.Close()
	waitFor(t, "the server to drop the first connection", func() bool { return ts.srv.Health().Connections == 1 })
	register(t, second, "alice")
	register(t, second, "alice-desk")
}

func TestServerCallToUnknownCallee(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	bob := dial(t, ts.url)

	send(t, bob, Message{Type: TypeCall, CallID: "c404", From: "bob", To: "nobody", SDP: offerSDP})
	m := expect(t, bob, TypeEnd) // no "trying" first: the call was never routed
	if m.CallID != "c404" || m.Status != StatusCalleeNotFound || !strings.Contains(m.Reason, "nobody") {
		t.Fatalf("got %+v, want end 404 naming the callee", m)
	}
	if h := ts.srv.Health(); h.Calls != 0 {
		t.Fatalf("Health().Calls = %d after a 404, want 0", h.Calls)
	}
}

func TestServerCallExchange(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	tests := []struct {
		name       string
		answer     bool
		endByCall  bool // the caller hangs up, else the callee
		status     int  // in the "end" the party sends
		reason     string
		wantStatus int
		wantReason string
	}{
		{name: "callee hangs up after answer", answer: true, wantStatus: StatusNormal, wantReason: "call ended normally"},
		{name: "caller hangs up after answer", answer: true, endByCall: true, wantStatus: StatusNormal, wantReason: "call ended normally"},
		{name: "caller cancels before answer", endByCall: true, wantStatus: StatusCancelled, wantReason: "cancelled"},
		{name: "callee ends before answer", wantStatus: StatusCancelled, wantReason: "cancelled"},
		{name: "caller gives up with 408", endByCall: true, status: StatusNoAnswer, wantStatus: StatusNoAnswer, wantReason: "no answer"},
		{name: "media failure with reason", answer: true, status: StatusMediaFailure, reason: "ICE failed",
			wantStatus: StatusMediaFailure, wantReason: "ICE failed"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			callee := dial(t, ts.url)
			caller := dial(t, ts.url) // anonymous: callers need not register
			user := fmt.Sprintf("alice-%d", i)
			register(t, callee, user)
			callID := fmt.Sprintf("call-%d", i)
			setUpCall(t, caller, callee, callID, "bob", user)

			send(t, callee, Message{Type: TypeRinging, CallID: callID})
			if m := expect(t, caller, TypeRinging); m.CallID != callID {
				t.Fatalf("ringing for %q", m.CallID)
			}

			// Candidates may flow both ways before and after the answer.
			relayCandidates(t, caller, callee, callID)
			if tt.answer {
				send(t, callee, Message{Type: TypeAnswer, CallID: callID, SDP: answerSDP})
				if m := expect(t, caller, TypeAnswer); m.CallID != callID || m.SDP != answerSDP {
					t.Fatalf("answer relayed as %+v", m)
				}
				relayCandidates(t, caller, callee, callID)
			}
			if h := ts.srv.Health(); h.Calls != 1 {
				t.Fatalf("Health().Calls = %d during the call, want 1", h.Calls)
			}

			ender, other := callee, caller
			if tt.endByCall {
				ender, other = caller, callee
			}
			send(t, ender, Message{Type: TypeEnd, CallID: callID, Status: tt.status, Reason: tt.reason})
			expectEnd(t, other, callID, tt.wantStatus, tt.wantReason)
			if h := ts.srv.Health(); h.Calls != 0 {
				t.Fatalf("Health().Calls = %d after the end, want 0", h.Calls)
			}

			// Ending an ended call is a normal race and draws no error; the
			// ender never hears its own end echoed.
			send(t, ender, Message{Type: TypeEnd, CallID: callID})
			send(t, other, Message{Type: TypeEnd, CallID: callID})
			syncWith(t, ender)
			syncWith(t, other)
			expectNothingQueued(t, ender)
			expectNothingQueued(t, other)
		})
	}
}

// relayCandidates sends a candidate and an end-of-candidates each way and
// checks they arrive unchanged.
func relayCandidates(t *testing.T, caller, callee *Client, callID string) {
	t.Helper()
	cands := []*Candidate{
		{Candidate: "candidate:1 1 udp 2122260223 192.0.2.1 40000 typ host", SDPMid: ptr("0"), SDPMLineIndex: ptr(uint16(0)), UsernameFragment: ptr("uf")},
		{}, // end of candidates
	}
	for _, dir := range []struct{ from, to *Client }{{caller, callee}, {callee, caller}} {
		for _, c := range cands {
			send(t, dir.from, Message{Type: TypeCandidate, CallID: callID, Candidate: c})
			m := expect(t, dir.to, TypeCandidate)
			if m.CallID != callID || !reflect.DeepEqual(m.Candidate, c) {
				t.Fatalf("candidate relayed as %+v (%+v), want %+v", m, m.Candidate, c)
			}
		}
	}
}

func TestServerReject(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	tests := []struct {
		name       string
		status     int
		reason     string
		wantStatus int
		wantReason string
	}{
		{"no status means declined", 0, "", StatusDeclined, "declined"},
		{"busy", StatusBusy, "", StatusBusy, "busy"},
		{"busy with reason", StatusBusy, "busy here", StatusBusy, "busy here"},
		{"other status", StatusMediaFailure, "no audio device", StatusMediaFailure, "no audio device"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			callee := dial(t, ts.url)
			caller := dial(t, ts.url)
			user := fmt.Sprintf("alice-%d", i)
			register(t, callee, user)
			callID := fmt.Sprintf("reject-%d", i)
			setUpCall(t, caller, callee, callID, "bob", user)

			send(t, callee, Message{Type: TypeReject, CallID: callID, Status: tt.status, Reason: tt.reason})
			expectEnd(t, caller, callID, tt.wantStatus, tt.wantReason)
			syncWith(t, callee)
			expectNothingQueued(t, callee)
			if h := ts.srv.Health(); h.Calls != 0 {
				t.Fatalf("Health().Calls = %d after the reject, want 0", h.Calls)
			}
		})
	}
}

// Messages about a call from a connection that may not send them are
// refused, and the call goes on as if they had never been sent.
func TestServerRefusals(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	conns := map[string]*Client{
		"callee":   dial(t, ts.url),
		"caller":   dial(t, ts.url),
		"intruder": dial(t, ts.url),
	}
	register(t, conns["callee"], "alice")
	const callID = "real-call"
	setUpCall(t, conns["caller"], conns["callee"], callID, "bob", "alice")
	cand := &Candidate{Candidate: "candidate:1 1 udp 1 198.51.100.7 9 typ host"}

	tests := []struct {
		name     string
		from     string
		msg      Message
		wantCode string // "" = silently ignored
	}{
		{"intruder answers", "intruder", Message{Type: TypeAnswer, CallID: callID, SDP: answerSDP}, ErrCodeNotAParty},
		{"intruder sends a candidate", "intruder", Message{Type: TypeCandidate, CallID: callID, Candidate: cand}, ErrCodeNotAParty},
		{"intruder ends", "intruder", Message{Type: TypeEnd, CallID: callID}, ErrCodeNotAParty},
		{"intruder rings", "intruder", Message{Type: TypeRinging, CallID: callID}, ErrCodeNotAParty},
		{"intruder rejects", "intruder", Message{Type: TypeReject, CallID: callID}, ErrCodeNotAParty},
		{"caller answers its own call", "caller", Message{Type: TypeAnswer, CallID: callID, SDP: answerSDP}, ErrCodeNotAParty},
		{"caller rings", "caller", Message{Type: TypeRinging, CallID: callID}, ErrCodeNotAParty},
		{"caller rejects", "caller", Message{Type: TypeReject, CallID: callID}, ErrCodeNotAParty},
		{"intruder reuses the call id", "intruder", Message{Type: TypeCall, CallID: callID, From: "eve", To: "alice", SDP: offerSDP}, ErrCodeDuplicateCall},
		{"intruder takes the callee's id", "intruder", Message{Type: TypeRegister, User: "alice"}, ErrCodeAlreadyRegistered},
		{"candidate for an unknown call", "caller", Message{Type: TypeCandidate, CallID: "nope", Candidate: cand}, ErrCodeUnknownCall},
		{"answer for an unknown call", "callee", Message{Type: TypeAnswer, CallID: "nope", SDP: answerSDP}, ErrCodeUnknownCall},
		{"reject for an unknown call", "callee", Message{Type: TypeReject, CallID: "nope"}, ErrCodeUnknownCall},
		{"end for an unknown call", "intruder", Message{Type: TypeEnd, CallID: "nope"}, ""},
		{"client sends welcome", "caller", Message{Type: TypeWelcome}, ErrCodeBadMessage},
		{"client sends trying", "caller", Message{Type: TypeTrying, CallID: callID}, ErrCodeBadMessage},
		{"client sends incoming", "intruder", Message{Type: TypeIncoming, CallID: callID, From: "eve", To: "bob", SDP: offerSDP}, ErrCodeBadMessage},
		{"client sends registered", "intruder", Message{Type: TypeRegistered, User: "alice"}, ErrCodeBadMessage},
		{"client sends error", "intruder", Message{Type: TypeError, CallID: callID, Code: ErrCodeNotAParty}, ErrCodeBadMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := conns[tt.from]
			if tt.wantCode != "" {
				requestRefused(t, c, tt.msg, tt.wantCode)
				return
			}
			send(t, c, tt.msg)
			syncWith(t, c)
			expectNothingQueued(t, c)
		})
	}

	// None of that reached the parties: the next thing each sees is the
	// real exchange.
	if h := ts.srv.Health(); h.Calls != 1 {
		t.Fatalf("Health().Calls = %d, want the real call still up", h.Calls)
	}
	send(t, conns["callee"], Message{Type: TypeAnswer, CallID: callID, SDP: answerSDP})
	if m := expect(t, conns["caller"], TypeAnswer); m.SDP != answerSDP {
		t.Fatalf("answer relayed as %+v", m)
	}
	requestRefused(t, conns["callee"], Message{Type: TypeAnswer, CallID: callID, SDP: answerSDP}, ErrCodeInvalidState)
	send(t, conns["caller"], Message{Type: TypeCandidate, CallID: callID, Candidate: cand})
	expect(t, conns["callee"], TypeCandidate)
	send(t, conns["callee"], Message{Type: TypeEnd, CallID: callID})
	expectEnd(t, conns["caller"], callID, StatusNormal, "")
	syncWith(t, conns["intruder"])
	expectNothingQueued(t, conns["intruder"])
}

// When a party's connection goes, the other party hears 480 and the
// dropped connection's registrations are released.
func TestServerPartyDisconnects(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	tests := []struct {
		name       string
		dropCallee bool
		answered   bool
		abrupt     bool // TCP cut without a close frame
		wantReason string
	}{
		{"caller closes before answer", false, false, false, "caller disconnected from the signaling server"},
		{"caller closes after answer", false, true, false, "caller disconnected from the signaling server"},
		{"callee closes before answer", true, false, false, "callee disconnected from the signaling server"},
		{"callee closes after answer", true, true, false, "callee disconnected from the signaling server"},
		{"caller's TCP connection cut", false, true, true, "caller disconnected from the signaling server"},
		{"callee's TCP connection cut", true, true, true, "callee disconnected from the signaling server"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := fmt.Sprintf("alice-%d", i)
			callID := fmt.Sprintf("drop-%d", i)
			if !tt.abrupt {
				callee := dial(t, ts.url)
				caller := dial(t, ts.url)
				register(t, callee, user)
				setUpCall(t, caller, callee, callID, "bob", user)
				if tt.answered {
					send(t, callee, Message{Type: TypeAnswer, CallID: callID, SDP: answerSDP})
					expect(t, caller, TypeAnswer)
				}
				gone, stays := caller, callee
				if tt.dropCallee {
					gone, stays = callee, caller
				}
				_ = gone.Close()
				expectEnd(t, stays, callID, StatusPeerUnavailable, tt.wantReason)
			} else {
				// The party that disappears is a raw connection so that
				// the test can cut its TCP connection without a goodbye.
				stays := dial(t, ts.url)
				gone := dialRaw(t, ts.url)
				if tt.dropCallee {
					gone.writeMsg(Message{Type: TypeRegister, User: user})
					if m := gone.read(); m.Type != TypeRegistered {
						t.Fatalf("register answered %+v", m)
					}
					send(t, stays, Message{Type: TypeCall, CallID: callID, From: "bob", To: user, SDP: offerSDP})
					expect(t, stays, TypeTrying)
					if m := gone.read(); m.Type != TypeIncoming {
						t.Fatalf("callee got %+v, want incoming", m)
					}
					gone.writeMsg(Message{Type: TypeAnswer, CallID: callID, SDP: answerSDP})
					expect(t, stays, TypeAnswer)
				} else {
					register(t, stays, user)
					gone.writeMsg(Message{Type: TypeCall, CallID: callID, From: "bob", To: user, SDP: offerSDP})
					if m := gone.read(); m.Type != TypeTrying {
						t.Fatalf("caller got %+v, want trying", m)
					}
					expect(t, stays, TypeIncoming)
					send(t, stays, Message{Type: TypeAnswer, CallID: callID, SDP: answerSDP})
					if m := gone.read(); m.Type != TypeAnswer {
						t.Fatalf("caller got %+v, want answer", m)
					}
				}
				_ = gone.ws.UnderlyingConn().Close()
				expectEnd(t, stays, callID, StatusPeerUnavailable, tt.wantReason)
			}
			if h := ts.srv.Health(); h.Calls != 0 {
				t.Fatalf("Health().Calls = %d, want 0", h.Calls)
			}
			if tt.dropCallee {
				// Its id is free again once the server has dropped it.
				other := dial(t, ts.url)
				waitFor(t, user+" to be released", func() bool { return ts.srv.Health().Registered == 0 })
				register(t, other, user)
			}
		})
	}
}

// A peer that stops answering pings is dropped after PongWait and its call
// ends for the other party.
func TestServerDropsSilentPeer(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{PingInterval: 20 * time.Millisecond, PongWait: 300 * time.Millisecond})
	caller := dial(t, ts.url)
	callee := dialRaw(t, ts.url)
	callee.ws.SetPingHandler(func(string) error { return nil }) // swallow pings: no pongs go back

	callee.writeMsg(Message{Type: TypeRegister, User: "alice"})
	if m := callee.read(); m.Type != TypeRegistered {
		t.Fatalf("register answered %+v", m)
	}
	send(t, caller, Message{Type: TypeCall, CallID: "silent", From: "bob", To: "alice", SDP: offerSDP})
	expect(t, caller, TypeTrying)
	if m := callee.read(); m.Type != TypeIncoming {
		t.Fatalf("callee got %+v, want incoming", m)
	}
	expectEnd(t, caller, "silent", StatusPeerUnavailable, "callee disconnected from the signaling server")
	callee.expectClosed()
	// The caller answers pings (gorilla does it in the reader) and stays.
	syncWith(t, caller)
}

func TestServerMalformedFrames(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	rc := dialRaw(t, ts.url)
	tests := []struct {
		name       string
		kind       int
		frame      string
		wantCode   string // "" = ignored without an answer
		wantRID    string
		wantCallID string
	}{
		{name: "garbage", kind: websocket.TextMessage, frame: "hello", wantCode: ErrCodeBadMessage},
		{name: "truncated", kind: websocket.TextMessage, frame: `{"v":1,"type":"regis`, wantCode: ErrCodeBadMessage},
		{name: "null", kind: websocket.TextMessage, frame: `null`, wantCode: ErrCodeBadMessage},
		{name: "two objects", kind: websocket.TextMessage, frame: `{"v":1,"type":"register","user":"a"}{}`, wantCode: ErrCodeBadMessage},
		{name: "wrong version", kind: websocket.TextMessage, frame: `{"v":2,"type":"register","user":"a","rid":"r1"}`,
			wantCode: ErrCodeUnsupportedVersion, wantRID: "r1"},
		{name: "no version", kind: websocket.TextMessage, frame: `{"type":"register","user":"a"}`, wantCode: ErrCodeUnsupportedVersion},
		{name: "unknown type", kind: websocket.TextMessage, frame: `{"v":1,"type":"hold","rid":"r2","callId":"c9"}`,
			wantCode: ErrCodeUnknownType, wantRID: "r2", wantCallID: "c9"},
		{name: "empty type", kind: websocket.TextMessage, frame: `{"v":1,"type":"","rid":"r3"}`, wantCode: ErrCodeBadMessage, wantRID: "r3"},
		{name: "missing field", kind: websocket.TextMessage, frame: `{"v":1,"type":"call","rid":"r4","callId":"c1","from":"a","to":"b"}`,
			wantCode: ErrCodeBadMessage, wantRID: "r4", wantCallID: "c1"},
		{name: "status out of range", kind: websocket.TextMessage, frame: `{"v":1,"type":"end","callId":"c1","status":1000}`,
			wantCode: ErrCodeBadMessage, wantCallID: "c1"},
		// Echoed whole, the type would make the error larger than the
		// client's read limit and cost it the connection.
		{name: "huge unknown type", kind: websocket.TextMessage, frame: `{"v":1,"type":"` + strings.Repeat("x", MaxMessageBytes-20) + `"}`,
			wantCode: ErrCodeUnknownType},
		{name: "huge ids echoed in an error", kind: websocket.TextMessage,
			frame:    `{"v":1,"type":"hold","rid":"` + strings.Repeat("r", MaxMessageBytes/2-40) + `","callId":"` + strings.Repeat("c", MaxMessageBytes/2-40) + `"}`,
			wantCode: ErrCodeUnknownType}, // without the echoes, which do not fit
		{name: "binary frame", kind: websocket.BinaryMessage, frame: `{"v":1,"type":"register","user":"bin"}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc.write(tt.kind, tt.frame)
			if tt.wantCode != "" {
				m := rc.read()
				if m.Type != TypeError || m.Code != tt.wantCode || m.RID != tt.wantRID || m.CallID != tt.wantCallID || m.Message == "" {
					t.Fatalf("got %+v, want error %s with rid %q callId %q and a text", m, tt.wantCode, tt.wantRID, tt.wantCallID)
				}
			}
			// The connection is still usable, and nothing else was sent.
			user := fmt.Sprintf("after-%d", i)
			rc.writeMsg(Message{Type: TypeRegister, User: user})
			if m := rc.read(); m.Type != TypeRegistered || m.User != user {
				t.Fatalf("after the bad frame, register got %+v", m)
			}
		})
	}
}

func TestServerOversizedFrame(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	other := dial(t, ts.url)
	register(t, other, "bob")
	rc := dialRaw(t, ts.url)
	rc.writeMsg(Message{Type: TypeRegister, User: "alice"})
	if m := rc.read(); m.Type != TypeRegistered {
		t.Fatalf("register answered %+v", m)
	}

	// A frame of exactly MaxMessageBytes is accepted.
	head := `{"v":1,"type":"register","user":"alice","padding":"`
	rc.write(websocket.TextMessage, head+strings.Repeat("x", MaxMessageBytes-len(head)-2)+`"}`)
	if m := rc.read(); m.Type != TypeRegistered {
		t.Fatalf("frame at the limit answered with %+v", m)
	}

	// One byte more closes that connection, and only that one.
	rc.write(websocket.TextMessage, head+strings.Repeat("x", MaxMessageBytes-len(head)-1)+`"}`)
	rc.expectClosed()
	waitFor(t, "the oversized connection to be dropped", func() bool { return ts.srv.Health().Connections == 1 })
	register(t, other, "alice") // released with the connection
	syncWith(t, other)
}

// A message the server would relay bigger than it came in (the relayed
// form has other fields, and Go escapes characters a browser sends raw)
// must not reach the receiver: at its read limit the receiver would drop the
// whole connection, and every call on it. The sender hears bad_message.
func TestServerRefusesRelayTooLargeForReceiver(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	callee := dialRaw(t, ts.url)
	caller := dial(t, ts.url)
	callee.writeMsg(Message{Type: TypeRegister, User: "alice"})
	if m := callee.read(); m.Type != TypeRegistered {
		t.Fatalf("register answered %+v", m)
	}

	// "incoming" is four bytes longer than "call": size the call so the
	// incoming lands just over the limit.
	call := Message{Type: TypeCall, CallID: "big", From: "bob", To: "alice"}
	base, _ := Encode(call)
	call.SDP = strings.Repeat("a", MaxMessageBytes-len(base)-len(`,"sdp":""`))
	if data, err := Encode(call); err != nil || len(data) != MaxMessageBytes {
		t.Fatalf("call frame of %d bytes (%v), want exactly the limit", len(data), err)
	}
	send(t, caller, call)
	if m := expect(t, caller, TypeError); m.Code != ErrCodeBadMessage || m.CallID != "big" {
		t.Fatalf("caller got %+v, want bad_message for call big", m)
	}
	if h := ts.srv.Health(); h.Calls != 0 || h.Connections != 2 {
		t.Fatalf("Health() = %+v, want no call and both connections", h)
	}

	// A normal call goes through; then an answer that grows when
	// re-escaped is refused to the callee and the caller never sees it.
	send(t, caller, Message{Type: TypeCall, CallID: "ok", From: "bob", To: "alice", SDP: offerSDP})
	expect(t, caller, TypeTrying)
	if m := callee.read(); m.Type != TypeIncoming || m.CallID != "ok" {
		t.Fatalf("callee got %+v, want incoming ok", m)
	}
	raw := `{"v":1,"type":"answer","callId":"ok","sdp":"` + strings.Repeat("<", 20000) + `"}`
	callee.write(websocket.TextMessage, raw)
	if m := callee.read(); m.Type != TypeError || m.Code != ErrCodeBadMessage || m.CallID != "ok" {
		t.Fatalf("callee got %+v, want bad_message for the oversized answer", m)
	}
	// The call is still up and unanswered: a hang-up now is a cancel.
	callee.writeMsg(Message{Type: TypeEnd, CallID: "ok"})
	expectEnd(t, caller, "ok", StatusCancelled, "")
	syncWith(t, caller)
	expectNothingQueued(t, caller)
}

func TestServerHealthz(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	callee := dial(t, ts.url)
	caller := dial(t, ts.url)
	register(t, callee, "alice")
	setUpCall(t, caller, callee, "h1", "bob", "alice")

	get := func() (int, Health) {
		t.Helper()
		resp, err := ts.hs.Client().Get(ts.hs.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q, want application/json", ct)
		}
		var h Health
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, h
	}
	code, h := get()
	want := Health{Status: "ok", Connections: 2, Registered: 1, Calls: 1}
	if code != http.StatusOK || h != want {
		t.Fatalf("/healthz = %d %+v, want 200 %+v", code, h, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	code, h = get()
	if code != http.StatusServiceUnavailable || h.Status != "shutting down" {
		t.Fatalf("/healthz after Shutdown = %d %+v, want 503 shutting down", code, h)
	}
}

func TestServerShutdown(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	callee := dial(t, ts.url)
	caller := dial(t, ts.url)
	idle := dial(t, ts.url)
	register(t, callee, "alice")
	setUpCall(t, caller, callee, "s1", "bob", "alice")
	send(t, callee, Message{Type: TypeAnswer, CallID: "s1", SDP: answerSDP})
	expect(t, caller, TypeAnswer)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for name, c := range map[string]*Client{"caller": caller, "callee": callee} {
		t.Run(name, func(t *testing.T) {
			expectEnd(t, c, "s1", StatusServerShutdown, "")
			expectClosed(t, c)
		})
	}
	expectClosed(t, idle)
	if h := ts.srv.Health(); h.Connections != 0 || h.Calls != 0 || h.Status != "shutting down" {
		t.Fatalf("Health() = %+v after Shutdown", h)
	}

	// New connections are turned away.
	_, err := Dial(ctx, ClientConfig{URL: ts.url})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Dial after Shutdown: %v, want ErrUnreachable", err)
	}
}

// Shutdown gives up waiting at ctx's deadline but still leaves no
// connection behind.
func TestServerShutdownDeadline(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	c := dial(t, ts.url)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := ts.srv.Shutdown(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v, want nil or context.Canceled", err)
	}
	expectClosed(t, c)
}

func TestServeUntilCancelled(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	srv := NewServer(ServerConfig{Software: "callstat/test"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, srv.Handler(), waitTimeout) }()

	url := "ws://" + ln.Addr().String() + "/ws"
	callee := dial(t, url)
	caller := dial(t, url)
	if w := callee.Welcome(); w.Server != "callstat/test" || w.Session == "" {
		t.Fatalf("welcome %+v, want server callstat/test and a session id", w)
	}
	register(t, callee, "alice")
	setUpCall(t, caller, callee, "serve-1", "bob", "alice")

	cancel()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-timer.C:
		t.Fatal("Serve did not return after ctx was cancelled")
	}
	expectEnd(t, caller, "serve-1", StatusServerShutdown, "")
	expectEnd(t, callee, "serve-1", StatusServerShutdown, "")
	expectClosed(t, caller)
	expectClosed(t, callee)
}

// TestServerUpdate: once a call is answered, either party may send a new
// offer ("update"); the other's "answer" goes back to that party.
func TestServerUpdate(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	callee := dial(t, ts.url)
	caller := dial(t, ts.url)
	register(t, callee, "alice-update")
	setUpCall(t, caller, callee, "call-update", "bob", "alice-update")

	// Not before the answer.
	requestRefused(t, caller, Message{Type: TypeUpdate, CallID: "call-update", SDP: offerSDP}, ErrCodeInvalidState)
	send(t, callee, Message{Type: TypeAnswer, CallID: "call-update", SDP: answerSDP})
	expect(t, caller, TypeAnswer)

	for _, dir := range []struct {
		name     string
		from, to *Client
	}{{"caller re-offers", caller, callee}, {"callee re-offers", callee, caller}} {
		send(t, dir.from, Message{Type: TypeUpdate, CallID: "call-update", SDP: offerSDP})
		if m := expect(t, dir.to, TypeUpdate); m.CallID != "call-update" || m.SDP != offerSDP {
			t.Fatalf("%s: update relayed as %+v", dir.name, m)
		}
		// One at a time.
		requestRefused(t, dir.to, Message{Type: TypeUpdate, CallID: "call-update", SDP: offerSDP}, ErrCodeInvalidState)
		send(t, dir.to, Message{Type: TypeAnswer, CallID: "call-update", SDP: answerSDP})
		if m := expect(t, dir.from, TypeAnswer); m.SDP != answerSDP {
			t.Fatalf("%s: answer relayed as %+v", dir.name, m)
		}
	}
	// A third connection is no party.
	other := dial(t, ts.url)
	requestRefused(t, other, Message{Type: TypeUpdate, CallID: "call-update", SDP: offerSDP}, ErrCodeNotAParty)
	send(t, caller, Message{Type: TypeEnd, CallID: "call-update"})
	expectEnd(t, callee, "call-update", StatusNormal, "call ended normally")
}
