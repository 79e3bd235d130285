package signaling

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/pion/transport/v5/test"
)

// recorder is a Metrics that writes down what it is told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) count(e string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.events {
		if x == e {
			n++
		}
	}
	return n
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) Connected()            { r.add("connected") }
func (r *recorder) Refused(reason string) { r.add("refused %s", reason) }
func (r *recorder) Registered()           { r.add("registered") }
func (r *recorder) Received(t Type)       { r.add("received %s", t) }
func (r *recorder) Rejected(code string)  { r.add("rejected %s", code) }
func (r *recorder) CallRouted()           { r.add("routed") }
func (r *recorder) CallAnswered()         { r.add("answered") }
func (r *recorder) CallEnded(status int)  { r.add("ended %d", status) }

// The server tells its Metrics hook about connections, registrations,
// messages, rejections and each call's progress, and Load says what it
// carries meanwhile.
func TestMetricsHook(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	rec := &recorder{}
	ts := startServer(t, ServerConfig{Metrics: rec, MaxConnsPerAddr: 3})
	alice, bob := dial(t, ts.url), dial(t, ts.url)
	register(t, alice, "alice")
	register(t, alice, "alice") // again by its holder: not a new registration
	waitFor(t, "two connections", func() bool { return rec.count("connected") == 2 })

	// A call to nobody ends at once with 404.
	send(t, bob, Message{Type: TypeCall, CallID: "c0", From: "bob", To: "nobody", SDP: offerSDP})
	expectEnd(t, bob, "c0", StatusCalleeNotFound, "")

	// A call answered, then hung up.
	send(t, bob, Message{Type: TypeCall, CallID: "c1", From: "bob", To: "alice", SDP: offerSDP})
	expect(t, bob, TypeTrying)
	expect(t, alice, TypeIncoming)
	send(t, alice, Message{Type: TypeRinging, CallID: "c1"})
	expect(t, bob, TypeRinging)
	if l := ts.srv.Load(); l != (Load{Connections: 2, Registrations: 1, CallsRinging: 1}) {
		t.Errorf("ringing: Load = %+v", l)
	}
	send(t, alice, Message{Type: TypeAnswer, CallID: "c1", SDP: answerSDP})
	expect(t, bob, TypeAnswer)
	if l := ts.srv.Load(); l != (Load{Connections: 2, Registrations: 1, CallsAnswered: 1}) {
		t.Errorf("answered: Load = %+v", l)
	}
	send(t, bob, Message{Type: TypeEnd, CallID: "c1"})
	expectEnd(t, alice, "c1", StatusNormal, "")

	// A message for a call that does not exist is rejected.
	requestRefused(t, bob, Message{Type: TypeRinging, CallID: "zz"}, ErrCodeUnknownCall)
	// Garbage is rejected before it is a message.
	raw := dialRaw(t, ts.url)
	raw.write(websocket.TextMessage, "not json")
	if m := raw.read(); m.Type != TypeError || m.Code != ErrCodeBadMessage {
		t.Fatalf("garbage answered with %+v, want a %s error", m, ErrCodeBadMessage)
	}
	// A fourth connection from this address is refused.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := Dial(ctx, ClientConfig{URL: ts.url}); !errors.Is(err, ErrUnreachable) {
		t.Errorf("a fourth connection: %v, want it refused", err)
	}

	waitFor(t, "the refusal", func() bool { return rec.count("refused "+RefusedTooManyConnections) == 1 })
	want := map[string]int{
		"connected": 3, "registered": 1, "received register": 2, "received call": 2, "received ringing": 2,
		"received answer": 1, "received end": 1, "routed": 1, "answered": 1, "ended 404": 1, "ended 200": 1,
		"rejected " + ErrCodeUnknownCall: 1, "rejected " + ErrCodeBadMessage: 1,
	}
	for e, n := range want {
		if got := rec.count(e); got != n {
			t.Errorf("%q told %d times, want %d; all: %v", e, got, n, rec.snapshot())
		}
	}
	if l := ts.srv.Load(); l.CallsRinging+l.CallsAnswered != 0 || l.Registrations != 1 {
		t.Errorf("after the calls: Load = %+v", l)
	}
}
