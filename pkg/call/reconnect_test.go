package call

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/signaling"
)

// dyingServer is a real signaling server behind a TCP relay on a fixed
// loopback port. kill drops every client connection at once, as kill -9 of
// a server process does: no "end", no close frame, and the dying server's
// own messages never reach anyone. start brings up a new server on the same
// port, which knows nothing of the old one's calls.
type dyingServer struct {
	t    *testing.T
	addr string

	ln      net.Listener
	stopSrv func()
	mu      sync.Mutex
	clients []net.Conn
	servers []net.Conn
	relays  sync.WaitGroup
	dead    atomic.Bool
}

func newDyingServer(t *testing.T) *dyingServer {
	d := &dyingServer{t: t, addr: "127.0.0.1:0"}
	d.start()
	d.addr = d.ln.Addr().String()
	return d
}

// close kills the server if it runs; tests defer it after CheckRoutines.
func (d *dyingServer) close() {
	if d.ln != nil {
		d.kill()
	}
}

func (d *dyingServer) url() string { return "ws://" + d.addr + "/ws" }

func (d *dyingServer) start() {
	d.t.Helper()
	backend, _, stop := testServer(d.t)
	target := strings.TrimSuffix(strings.TrimPrefix(backend, "ws://"), "/ws")
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		stop()
		d.t.Fatal(err)
	}
	d.ln, d.stopSrv = ln, stop
	d.dead.Store(false)
	d.relays.Add(1)
	go func() {
		defer d.relays.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			d.mu.Lock()
			d.clients = append(d.clients, client)
			d.servers = append(d.servers, server)
			d.mu.Unlock()
			d.relays.Add(2)
			go func() { defer d.relays.Done(); _, _ = io.Copy(server, client); _ = server.Close() }()
			go func() { defer d.relays.Done(); d.toClient(client, server); _ = client.Close() }()
		}
	}()
}

// toClient relays the server's bytes until the server dies: once kill has
// begun, nothing more reaches a client (in particular not the "end" 480
// that the server sends a party when it sees the other one go).
func (d *dyingServer) toClient(client, server net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 && (d.dead.Load() || writeAll(client, buf[:n]) != nil) {
			return
		}
		if err != nil {
			return
		}
	}
}

func writeAll(c net.Conn, b []byte) error {
	_, err := c.Write(b)
	return err
}

func (d *dyingServer) kill() {
	d.dead.Store(true) // before any connection closes
	_ = d.ln.Close()
	d.mu.Lock()
	// Every client side first: the server's last words go nowhere.
	conns := append(append([]net.Conn{}, d.clients...), d.servers...)
	d.clients, d.servers = nil, nil
	d.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	d.relays.Wait()
	d.stopSrv()
	d.ln = nil
}

// sigRecorder keeps a phone's SignalingChanged events.
type sigRecorder struct {
	mu      sync.Mutex
	changes []SignalingChange
	grew    chan struct{}
}

func newSigRecorder() *sigRecorder { return &sigRecorder{grew: make(chan struct{})} }

func (r *sigRecorder) hooks() Hooks {
	return Hooks{SignalingChanged: func(_ *Phone, ch SignalingChange) {
		r.mu.Lock()
		r.changes = append(r.changes, ch)
		close(r.grew)
		r.grew = make(chan struct{})
		r.mu.Unlock()
	}}
}

// waitFor waits until n changes to state have been seen.
func (r *sigRecorder) waitFor(t *testing.T, state SignalingState, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		seen := 0
		for _, ch := range r.changes {
			if ch.State == state {
				seen++
			}
		}
		grew := r.grew
		r.mu.Unlock()
		if seen >= n {
			return
		}
		select {
		case <-grew:
		case <-deadline:
			t.Fatalf("saw %d %q signaling changes, want %d; all: %v", seen, state, n, r.states())
		}
	}
}

func (r *sigRecorder) states() []SignalingState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []SignalingState
	for _, ch := range r.changes {
		out = append(out, ch.State)
	}
	return out
}

func newReconnectingPhone(t *testing.T, url, id string, src *audio.Source, register bool, attempts int, delay time.Duration, hooks Hooks) *Phone {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := NewPhone(ctx, Config{
		ServerURL: url, Identity: id, Register: register, Source: src,
		ICELoopback: true, Logger: testLogger(t), Hooks: hooks,
		ReconnectAttempts: attempts, ReconnectDelay: delay,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitPackets waits until c has received more than n audio packets.
func waitPackets(t *testing.T, c *Call, n uint32, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for inboundPackets(c) <= n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d packets received, want more than %d", what, inboundPackets(c), n)
		}
		time.Sleep(20 * time.Millisecond) // polling a counter, not synchronising
	}
}

// The signaling server dies mid-call (item 3 of the reliability issue):
// the connected call keeps its media, a ringing one fails, both phones
// reconnect and the answerer registers again; the restarted server knows
// nothing of the call, yet a hang-up reaches the far end in band, with its
// status and reason; a new call then works.
func TestServerDiesMidCall(t *testing.T) {
	lim := test.TimeOut(90 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	srv := newDyingServer(t)
	defer srv.close()
	tone := testSource(t, "tone")
	defer tone.Close()
	aliceSig, bobSig := newSigRecorder(), newSigRecorder()
	alice := newReconnectingPhone(t, srv.url(), "alice@example.com", tone, true, 100, 50*time.Millisecond, aliceSig.hooks())
	answering := autoAnswer(t, alice)
	carol := newReconnectingPhone(t, srv.url(), "carol@example.com", tone, true, 100, 50*time.Millisecond, Hooks{})
	bob := newReconnectingPhone(t, srv.url(), "bob@example.com", tone, false, 100, 50*time.Millisecond, bobSig.hooks())

	c, err := bob.Dial(context.Background(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c.Connected(), "call connected")
	aliceCall := alice.Calls()[0]
	ringing, err := bob.Dial(context.Background(), "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	carolCall := <-carol.Incoming() // never answered
	waitPackets(t, aliceCall, 10, "before the kill")

	srv.kill()
	aliceSig.waitFor(t, SignalingDisconnected, 1)
	bobSig.waitFor(t, SignalingDisconnected, 1)
	wait(t, ringing.Done(), "the ringing call to fail")
	wait(t, carolCall.Done(), "the ringing callee to fail")
	if !errors.Is(ringing.Err(), ErrSignalingLost) || !errors.Is(carolCall.Err(), ErrSignalingLost) {
		t.Errorf("ringing call errors = %v / %v, want ErrSignalingLost", ringing.Err(), carolCall.Err())
	}
	// Media keeps flowing while there is no server at all.
	aliceSig.waitFor(t, SignalingReconnecting, 2)
	before := inboundPackets(aliceCall)
	waitPackets(t, aliceCall, before+25, "callee, server down")
	waitPackets(t, c, inboundPackets(c)+25, "caller, server down")
	if c.State() != StateConnected || aliceCall.State() != StateConnected {
		t.Fatalf("states with the server down: %s / %s, want Connected", c.State(), aliceCall.State())
	}

	srv.start()
	aliceSig.waitFor(t, SignalingConnected, 1)
	bobSig.waitFor(t, SignalingConnected, 1)

	c.Hangup("done after the restart")
	wait(t, c.Done(), "caller end")
	wait(t, aliceCall.Done(), "callee end (in band)")
	if tr := aliceCall.Transition(); tr.StatusCode != signaling.StatusNormal || tr.ReasonText != "done after the restart" {
		t.Errorf("callee ended with %+v, want 200 and the caller's reason", tr)
	}
	if aliceCall.Err() != nil || c.Err() != nil {
		t.Errorf("errors after a normal hang-up: %v / %v", aliceCall.Err(), c.Err())
	}

	// The answerer is registered again: a new call goes through.
	c2, err := bob.Dial(context.Background(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c2.Connected(), "a new call after the restart")
	c2.Hangup("second call done")
	wait(t, c2.Done(), "second call end")

	for _, p := range []*Phone{bob, carol, alice} {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	answering.Wait()
	if got := aliceSig.states(); got[0] != SignalingDisconnected || got[len(got)-1] != SignalingConnected {
		t.Errorf("callee signaling changes %v", got)
	}
}

// phoneOfDeadServer is a registered phone whose server has just died for
// good. release, deferred after CheckRoutines' report, frees the rest.
func phoneOfDeadServer(t *testing.T, attempts int, delay time.Duration) (*Phone, *sigRecorder, func()) {
	t.Helper()
	srv := newDyingServer(t)
	tone := testSource(t, "tone")
	rec := newSigRecorder()
	bob := newReconnectingPhone(t, srv.url(), "bob@example.com", tone, true, attempts, delay, rec.hooks())
	srv.kill()
	return bob, rec, func() { _ = tone.Close() }
}

// Without a server to come back to, the phone gives up after its attempts
// and says so; a call placed then fails at once.
func TestReconnectGivesUp(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	bob, rec, release := phoneOfDeadServer(t, 2, 20*time.Millisecond)
	defer release()
	wait(t, bob.SignalingDone(), "the phone to give up")
	if err := bob.SignalingErr(); !errors.Is(err, ErrSignalingLost) || !strings.Contains(err.Error(), "2 reconnection attempts") {
		t.Errorf("SignalingErr() = %v", err)
	}
	want := []SignalingState{SignalingDisconnected, SignalingReconnecting, SignalingReconnecting, SignalingLost}
	if got := rec.states(); !slices.Equal(got, want) {
		t.Errorf("signaling changes %v, want %v", got, want)
	}
	c, err := bob.Dial(context.Background(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c.Done(), "a call without a server")
	if !errors.Is(c.Err(), ErrSignalingLost) {
		t.Errorf("call err = %v, want ErrSignalingLost", c.Err())
	}
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close cuts a reconnection wait short.
func TestCloseWhileReconnecting(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	bob, rec, release := phoneOfDeadServer(t, 5, time.Hour)
	defer release()
	rec.waitFor(t, SignalingReconnecting, 1)
	closed := make(chan struct{})
	go func() {
		_ = bob.Close()
		close(closed)
	}()
	wait(t, closed, "Close during a reconnection wait")
	if !errors.Is(bob.SignalingErr(), ErrClosed) {
		t.Errorf("SignalingErr() = %v, want ErrClosed", bob.SignalingErr())
	}
	for _, s := range rec.states() {
		if s == SignalingLost {
			t.Error("a phone closed by its owner reported the server lost")
		}
	}
}

func TestByeReason(t *testing.T) {
	tests := []struct {
		name   string
		status int
		reason string
		clip   bool
	}{
		{"normal", 200, "call duration 3s reached", false},
		{"status kept", 500, "media connection failed", false},
		{"empty reason", 200, "", false},
		{"long reason clipped on a rune", 200, strings.Repeat("é", 200), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := byeReason(tt.status, tt.reason)
			if len(text) > maxByeReason || !utf8.ValidString(text) {
				t.Fatalf("reason %q: %d bytes or invalid UTF-8", text, len(text))
			}
			got := parseBye(text)
			whole := got.ReasonText == tt.reason
			if got.StatusCode != tt.status || !strings.HasPrefix(tt.reason, got.ReasonText) || whole == tt.clip {
				t.Errorf("parseBye(byeReason(%d, %.20q…)) = %d %.20q…", tt.status, tt.reason, got.StatusCode, got.ReasonText)
			}
		})
	}
	for _, other := range []string{"", "bye", "callstat x reason", "callstat 99 x"} {
		if got := parseBye(other); got.StatusCode != signaling.StatusNormal || !strings.HasPrefix(got.ReasonText, "far end sent RTCP BYE") {
			t.Errorf("parseBye(%q) = %+v, want a normal hang-up", other, got)
		}
	}
}
