package call

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/collect"
	"github.com/callstat/callstat/pkg/stats/store"
)

// hostile is a client that breaks every rule it can. It is a bare
// WebSocket: the test goroutine is its only reader and writer.
type hostile struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialHostile(t *testing.T, url string) *hostile {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("hostile dial: %v", err)
	}
	h := &hostile{t: t, ws: ws}
	if m := h.read(); m.Type != signaling.TypeWelcome {
		t.Fatalf("hostile got %+v first", m)
	}
	return h
}

func (h *hostile) write(kind int, data string) {
	_ = h.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_ = h.ws.WriteMessage(kind, []byte(data)) // the server may already have hung up
}

func (h *hostile) send(m signaling.Message) {
	data, err := signaling.Encode(m)
	if err != nil {
		h.t.Fatal(err)
	}
	h.write(websocket.TextMessage, string(data))
}

func (h *hostile) read() signaling.Message {
	h.t.Helper()
	_ = h.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := h.ws.ReadMessage()
	if err != nil {
		h.t.Fatalf("hostile read: %v", err)
	}
	m, err := signaling.Decode(data)
	if err != nil {
		h.t.Fatalf("server sent %.100s: %v", data, err)
	}
	return m
}

func (h *hostile) expectError(code string) {
	h.t.Helper()
	if m := h.read(); m.Type != signaling.TypeError || m.Code != code {
		h.t.Fatalf("hostile got %+v, want error %s", m, code)
	}
}

// closed reads until the server closes the connection and returns the
// close code, skipping whatever came first.
func (h *hostile) closed() int {
	h.t.Helper()
	_ = h.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := h.ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				h.t.Fatal("the server did not close the hostile connection")
			}
			return -1
		}
	}
}

// attack runs one round of everything a hostile client can try against
// the call callID, each answered as docs/protocol.md says.
func attack(t *testing.T, url, callID, callee string) {
	// Garbage, truncated JSON, unknown types, wrong versions, binary.
	h := dialHostile(t, url)
	for _, frame := range []string{"hello", `{"v":1,"type":"regis`, `{"v":1,"type":"hold","callId":"` + callID + `"}`, `{"v":2,"type":"end"}`, `[]`} {
		h.write(websocket.TextMessage, frame)
	}
	h.write(websocket.BinaryMessage, "\x00\x01\x02")
	for _, code := range []string{signaling.ErrCodeBadMessage, signaling.ErrCodeBadMessage, signaling.ErrCodeUnknownType,
		signaling.ErrCodeUnsupportedVersion, signaling.ErrCodeBadMessage} {
		h.expectError(code)
	}
	// Spoofing the real call: hang it up, answer it, inject candidates,
	// ring, reject; take the callee's id; reuse the call id.
	cand := &signaling.Candidate{Candidate: "candidate:1 1 udp 2122260223 127.0.0.1 9 typ host"}
	for _, m := range []signaling.Message{
		{Type: signaling.TypeEnd, CallID: callID, Status: 200},
		{Type: signaling.TypeAnswer, CallID: callID, SDP: "v=0\r\n"},
		{Type: signaling.TypeCandidate, CallID: callID, Candidate: cand},
		{Type: signaling.TypeRinging, CallID: callID},
		{Type: signaling.TypeReject, CallID: callID, Status: 486},
	} {
		h.send(m)
		h.expectError(signaling.ErrCodeNotAParty)
	}
	h.send(signaling.Message{Type: signaling.TypeRegister, User: callee})
	h.expectError(signaling.ErrCodeAlreadyRegistered)
	h.send(signaling.Message{Type: signaling.TypeCall, CallID: callID, From: "eve", To: callee, SDP: "v=0\r\n"})
	h.expectError(signaling.ErrCodeDuplicateCall)
	// An oversized frame costs this connection.
	h.write(websocket.TextMessage, `{"v":1,"type":"end","callId":"`+strings.Repeat("x", signaling.MaxMessageBytes)+`"}`)
	if code := h.closed(); code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized frame: close code %d, want %d", code, websocket.CloseMessageTooBig)
	}
	_ = h.ws.Close()

	// A flood of messages that draw no answer, until the rate limit
	// closes the connection.
	f := dialHostile(t, url)
	for range signaling.DefaultMessageBurst + 400 {
		f.send(signaling.Message{Type: signaling.TypeEnd, CallID: "no-such-call"})
	}
	if code := f.closed(); code != 1008 {
		t.Fatalf("flood: close code %d, want 1008", code)
	}
	_ = f.ws.Close()
}

// sampleCounter counts the stats samples of each participant.
type sampleCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *sampleCounter) add(smp stats.Sample) {
	s.mu.Lock()
	s.n[smp.Participant]++
	s.mu.Unlock()
}

func (s *sampleCounter) get(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[p]
}

// A hostile client floods the server and sends it garbage while a real call
// runs on it: the call keeps its audio and its stats the whole time, and
// the server keeps placing new calls.
func TestHostileClientDoesNotDisturbCalls(t *testing.T) {
	lim := test.TimeOut(120 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	url, srv, stopServer := testServer(t)
	defer stopServer()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "stats.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts := &sampleCounter{n: map[string]int{}}
	col := collect.New(collect.Config{Sink: st, Interval: 100 * time.Millisecond, OnSample: counts.add, Logger: testLogger(t)})
	defer col.Close()
	hooks := collectStatsHooks(col)

	tone := testSource(t, "tone")
	defer tone.Close()
	alice := newTestPhone(t, url, "alice@example.com", true, tone, hooks)
	answering := autoAnswer(t, alice)
	bob := newTestPhone(t, url, "bob@example.com", false, tone, hooks)
	c, err := bob.Dial(context.Background(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c.Connected(), "the real call to connect")
	deadline := time.Now().Add(10 * time.Second)
	for inboundPackets(c) <= 10 || len(alice.Calls()) != 1 || inboundPackets(alice.Calls()[0]) <= 10 {
		if time.Now().After(deadline) {
			t.Fatal("no audio before the attack")
		}
		time.Sleep(20 * time.Millisecond)
	}
	aliceCall := alice.Calls()[0]

	// Attack for a few seconds. About once a second the call must have
	// received more audio on both sides and more stats samples on both
	// sides than at the previous check, and still be connected.
	const attackFor, checkEvery = 4 * time.Second, time.Second
	type point struct {
		bobIn, aliceIn uint32
		bobN, aliceN   int
	}
	now := func() point {
		return point{inboundPackets(c), inboundPackets(aliceCall), counts.get("bob@example.com"), counts.get("alice@example.com")}
	}
	last, lastAt, end := now(), time.Now(), time.Now().Add(attackFor)
	rounds, checks := 0, 0
	for time.Now().Before(end) {
		attack(t, url, c.ID(), "alice@example.com")
		rounds++
		if time.Since(lastAt) < checkEvery {
			continue
		}
		p := now()
		if p.bobIn <= last.bobIn || p.aliceIn <= last.aliceIn || p.bobN <= last.bobN || p.aliceN <= last.aliceN {
			t.Fatalf("after %d attack rounds the call stalled: packets bob %d->%d alice %d->%d, samples bob %d->%d alice %d->%d",
				rounds, last.bobIn, p.bobIn, last.aliceIn, p.aliceIn, last.bobN, p.bobN, last.aliceN, p.aliceN)
		}
		if c.State() != StateConnected || aliceCall.State() != StateConnected {
			t.Fatalf("call states %s / %s during the attack", c.State(), aliceCall.State())
		}
		last, lastAt = p, time.Now()
		checks++
	}
	if checks < 2 {
		t.Fatalf("only %d checks during the attack (%d rounds)", checks, rounds)
	}
	t.Logf("%d attack rounds, %d checks; bob received %d packets, %d samples", rounds, checks, last.bobIn, last.bobN)

	// The server still routes new calls, and still carries the first one.
	carol := newTestPhone(t, url, "carol@example.com", true, tone, Hooks{})
	carolAnswering := autoAnswer(t, carol)
	dave := newTestPhone(t, url, "dave@example.com", false, tone, Hooks{})
	c2, err := dave.Dial(context.Background(), "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c2.Connected(), "a new call after the attack")
	if h := srv.Health(); h.Calls != 2 {
		t.Errorf("Health().Calls = %d, want 2", h.Calls)
	}

	c.Hangup("test done")
	wait(t, c.Done(), "caller Done")
	wait(t, aliceCall.Done(), "callee Done")
	if c.Err() != nil || aliceCall.Err() != nil {
		t.Errorf("the real call ended with %v / %v, want a normal end", c.Err(), aliceCall.Err())
	}
	if tr := aliceCall.Transition(); tr.StatusCode != signaling.StatusNormal {
		t.Errorf("callee's end %+v, want 200 from the caller's hang-up", tr)
	}
	for _, p := range []*Phone{dave, carol, bob, alice} {
		_ = p.Close()
	}
	answering.Wait()
	carolAnswering.Wait()
	if err := col.Err(); err != nil {
		t.Errorf("stats collection failed: %v", err)
	}
}
