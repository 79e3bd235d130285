package sip_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/callstat/callstat/internal/testkit/sipkit"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/signaling/sip"
)

// TestKamailioRefusals: an anonymous caller (no registration, From as
// given) reaches bob through Kamailio; every way a call can fail to
// connect ends it with the SIP status, the SDK's state and error.
func TestKamailioRefusals(t *testing.T) {
	checkRoutines(t)
	k := sipkit.StartKamailio(t, sipkit.KamailioOptions{})
	var mode atomic.Value // what bob does with the next call
	calleeRec := newRecorder()
	bob := mustPhone(t, phoneOpts{url: k.URL, user: "bob", register: true, src: testSource(t, "tone:600"), hooks: calleeRec.hooks()})
	bobCalls := make(chan *call.Call, 8)
	answering := answerer(t, bob, func(c *call.Call) {
		bobCalls <- c
		switch m := mode.Load().(string); m {
		case "486", "603":
			status := 486
			if m == "603" {
				status = 603
			}
			if err := c.Reject(context.Background(), status, "test says "+m); err != nil {
				t.Errorf("reject: %v", err)
			}
		case "ring":
			// Let it ring.
		}
	})
	callerRec := newRecorder()
	anon := mustPhone(t, phoneOpts{url: k.URL, from: "sip:anonymous@anonymous.invalid", src: testSource(t, "tone:1000"), hooks: callerRec.hooks()})

	tests := []struct {
		name, mode, to string
		hangupOnRing   bool
		status         int
		reason         string
		err            error
		calleeState    string
	}{
		{name: "busy", mode: "486", to: "bob", status: 486, reason: "test says 486", err: call.ErrRejected, calleeState: "Ended"},
		{name: "declined", mode: "603", to: "bob", status: 603, reason: "test says 603", err: call.ErrRejected, calleeState: "Ended"},
		{name: "unknown user", mode: "ring", to: "nobody", status: 404, reason: "Not Found", err: call.ErrCalleeNotFound},
		{name: "cancelled", mode: "ring", to: "bob", hangupOnRing: true, status: 487, err: call.ErrInterrupted, calleeState: "Cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode.Store(tt.mode)
			c, err := anon.Dial(context.Background(), tt.to+"@"+sipkit.Domain)
			if err != nil {
				t.Fatal(err)
			}
			if tt.hangupOnRing {
				eventually(t, 10*time.Second, "Ringing", func() bool { return c.State() == call.StateRinging })
				c.Hangup("caller gave up")
			}
			waitFor(t, c.Done(), "caller Done")
			if tr := c.Transition(); tr.StatusCode != tt.status || !strings.Contains(tr.ReasonText, tt.reason) {
				t.Errorf("caller's end: %+v, want status %d reason %q", tr, tt.status, tt.reason)
			}
			if !errors.Is(c.Err(), tt.err) {
				t.Errorf("caller err = %v, want %v", c.Err(), tt.err)
			}
			if tt.calleeState == "" {
				return
			}
			bc := <-bobCalls
			waitFor(t, bc.Done(), "callee Done")
			if got := bc.State().String(); got != tt.calleeState {
				t.Errorf("callee state %s, want %s (transition %+v)", got, tt.calleeState, bc.Transition())
			}
			if tt.calleeState == "Cancelled" && bc.Transition().StatusCode != 487 {
				t.Errorf("callee transition %+v, want 487", bc.Transition())
			}
		})
	}
	_ = anon.Close()
	_ = bob.Close()
	answering.Wait()
}

// TestKamailioAuthFailures: a wrong password is an error naming the SIP
// status that wraps call.ErrAuth, for REGISTER (401) and INVITE (407).
func TestKamailioAuthFailures(t *testing.T) {
	checkRoutines(t)
	k := sipkit.StartKamailio(t, sipkit.KamailioOptions{})
	_, err := newPhone(t, phoneOpts{url: k.URL, user: "alice", password: "wrong", register: true, src: testSource(t, "tone")})
	if !errors.Is(err, call.ErrRegisterFailed) || !errors.Is(err, call.ErrAuth) {
		t.Fatalf("register with a wrong password: %v, want ErrRegisterFailed and ErrAuth", err)
	}
	var se *sip.StatusError
	if !errors.As(err, &se) || se.Code != 401 || !strings.Contains(err.Error(), "401 Unauthorized") || !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("error %q does not name 401 and the likely cause", err)
	}

	// Calling as alice without registering, with a wrong password: the
	// INVITE's 407 challenge is answered once, then refused.
	bob := mustPhone(t, phoneOpts{url: k.URL, user: "bob", register: true, src: testSource(t, "tone")})
	defer bob.Close()
	alice := mustPhone(t, phoneOpts{url: k.URL, user: "alice", password: "wrong", src: testSource(t, "tone")})
	defer alice.Close()
	c, err := alice.Dial(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, c.Done(), "call Done")
	if !errors.Is(c.Err(), call.ErrAuth) || c.Transition().StatusCode != gosip.StatusProxyAuthRequired || !strings.Contains(c.Err().Error(), "407") {
		t.Errorf("call with a wrong password: err %v, transition %+v; want ErrAuth and 407", c.Err(), c.Transition())
	}
}

// TestKamailioSHA256: digest with SHA-256 (RFC 8760) for REGISTER and
// INVITE; the callee hangs up.
func TestKamailioSHA256(t *testing.T) {
	checkRoutines(t)
	k := sipkit.StartKamailio(t, sipkit.KamailioOptions{SHA256: true})
	bob := mustPhone(t, phoneOpts{url: k.URL, user: "bob", register: true, src: testSource(t, "tone:600")})
	answering := answerer(t, bob, answer(t))
	alice := mustPhone(t, phoneOpts{url: k.URL, user: "alice", register: true, src: testSource(t, "tone:1000")})
	c, err := alice.Dial(context.Background(), "sip:bob@"+sipkit.Domain)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, c.Connected(), "Connected")
	eventually(t, 10*time.Second, "callee's call", func() bool { return len(bob.Calls()) == 1 })
	bc := bob.Calls()[0]
	waitFor(t, bc.Connected(), "callee Connected")
	// Audio both ways first: a hang-up in the instant between DTLS and
	// pion starting RTP can deadlock pion's close (DTLSTransport.Stop waits for
	// an SRTP read loop blocked on a stream that startRTP, waiting for the
	// same lock, never accepts).
	eventually(t, 10*time.Second, "audio both ways", func() bool { return inbound(c) > 0 && inbound(bc) > 0 })
	bc.Hangup("callee hangs up")
	waitFor(t, c.Done(), "caller Done")
	if tr := c.Transition(); tr.StatusCode != signaling.StatusNormal || c.Err() != nil {
		t.Errorf("caller's end after the callee hung up: %+v, err %v", tr, c.Err())
	}
	_ = alice.Close()
	_ = bob.Close()
	answering.Wait()
}

// TestKamailioHold: each side holds and resumes; the held side stops
// sending, the call is On Hold on both sides, and stats keep sampling.
func TestKamailioHold(t *testing.T) {
	checkRoutines(t)
	k := sipkit.StartKamailio(t, sipkit.KamailioOptions{})
	calleeRec, callerRec := newRecorder(), newRecorder()
	bob := mustPhone(t, phoneOpts{url: k.URL, user: "bob", register: true, src: testSource(t, "tone:600"), hooks: calleeRec.hooks()})
	answering := answerer(t, bob, answer(t))
	alice := mustPhone(t, phoneOpts{url: k.URL, user: "alice", register: true, src: testSource(t, "tone:1000"), hooks: callerRec.hooks()})
	c, err := alice.Dial(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, c.Connected(), "Connected")
	eventually(t, 10*time.Second, "callee's call", func() bool { return len(bob.Calls()) == 1 })
	bc := bob.Calls()[0]
	waitFor(t, bc.Connected(), "callee Connected")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// flowing reports whether packets into to keep arriving.
	flowing := func(to *call.Call) bool {
		before := inbound(to)
		time.Sleep(400 * time.Millisecond)
		return inbound(to) > before
	}
	for _, holder := range []struct {
		name      string
		by, other *call.Call
	}{{"caller holds", c, bc}, {"callee holds", bc, c}} {
		if err := holder.by.Hold(ctx); err != nil {
			t.Fatalf("%s: Hold: %v", holder.name, err)
		}
		eventually(t, 5*time.Second, "both On Hold", func() bool {
			return holder.by.State() == call.StateOnHold && holder.other.State() == call.StateOnHold
		})
		if h := holder.by.HoldState(); !h.Local || h.Remote {
			t.Errorf("%s: holder's hold %+v", holder.name, h)
		}
		if h := holder.other.HoldState(); h.Local || !h.Remote {
			t.Errorf("%s: held side's hold %+v", holder.name, h)
		}
		// The held side answered recvonly and stops sending.
		eventually(t, 5*time.Second, "the held side to go quiet", func() bool { return !flowing(holder.by) })
		if !flowing(holder.other) {
			t.Errorf("%s: the holder stopped sending too", holder.name)
		}
		if err := holder.by.Resume(ctx); err != nil {
			t.Fatalf("%s: Resume: %v", holder.name, err)
		}
		eventually(t, 5*time.Second, "both Connected", func() bool {
			return holder.by.State() == call.StateConnected && holder.other.State() == call.StateConnected
		})
		eventually(t, 5*time.Second, "audio again", func() bool { return flowing(holder.by) && flowing(holder.other) })
	}
	c.Hangup("done")
	waitFor(t, bc.Done(), "callee Done")
	want := "Initiated,Ringing,Connected,On Hold,Connected,On Hold,Connected,Ended"
	if got := strings.Join(callerRec.states(c.ID()), ","); got != want {
		t.Errorf("caller states %s, want %s", got, want)
	}
	_ = alice.Close()
	_ = bob.Close()
	answering.Wait()
}

// TestKamailioKilledMidCall: Kamailio dies during a call; the media goes
// on, the phones lose their signaling, and a hang-up still ends both
// sides cleanly (in band).
func TestKamailioKilledMidCall(t *testing.T) {
	checkRoutines(t)
	k := sipkit.StartKamailio(t, sipkit.KamailioOptions{})
	bob := mustPhone(t, phoneOpts{url: k.URL, user: "bob", register: true, src: testSource(t, "tone:600"), attempts: 1})
	answering := answerer(t, bob, answer(t))
	alice := mustPhone(t, phoneOpts{url: k.URL, user: "alice", register: true, src: testSource(t, "tone:1000"), attempts: 1})
	c, err := alice.Dial(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, c.Connected(), "Connected")
	eventually(t, 10*time.Second, "callee's call", func() bool { return len(bob.Calls()) == 1 })
	bc := bob.Calls()[0]
	k.Kill()
	waitFor(t, alice.SignalingDone(), "caller's signaling lost")
	before := inbound(c)
	eventually(t, 5*time.Second, "media after the server died", func() bool { return inbound(c) > before+50 })
	if c.State() != call.StateConnected || bc.State() != call.StateConnected {
		t.Fatalf("states after the kill: %s / %s", c.State(), bc.State())
	}
	c.Hangup("after the server died")
	waitFor(t, bc.Done(), "callee Done")
	if tr := bc.Transition(); tr.StatusCode != signaling.StatusNormal || bc.Err() != nil {
		t.Errorf("callee's end: %+v err %v", tr, bc.Err())
	}
	_ = alice.Close()
	_ = bob.Close()
	answering.Wait()
}

// TestKamailioConnectionDropped: the WebSocket of the callee drops during
// a call (a network failure between it and Kamailio). The phone reports
// the drop, reconnects with its backoff and registers again on a new
// WebSocket; the call keeps its media meanwhile; hanging it up afterwards
// sends BYE on the new WebSocket, which Kamailio routes to the caller.
func TestKamailioConnectionDropped(t *testing.T) {
	checkRoutines(t)
	k := sipkit.StartKamailio(t, sipkit.KamailioOptions{})
	relay := sipkit.StartWSRelay(t, k.URL)
	var mu sync.Mutex
	var changes []call.SignalingChange
	hooks := call.Hooks{SignalingChanged: func(_ *call.Phone, ch call.SignalingChange) {
		mu.Lock()
		changes = append(changes, ch)
		mu.Unlock()
	}}
	bob := mustPhone(t, phoneOpts{url: relay.URL, user: "bob", register: true, src: testSource(t, "tone:600"), hooks: hooks, attempts: 3})
	answering := answerer(t, bob, answer(t))
	alice := mustPhone(t, phoneOpts{url: k.URL, user: "alice", register: true, src: testSource(t, "tone:1000")})
	c, err := alice.Dial(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, c.Connected(), "Connected")
	eventually(t, 10*time.Second, "callee's call", func() bool { return len(bob.Calls()) == 1 })
	bc := bob.Calls()[0]
	waitFor(t, bc.Connected(), "callee Connected")

	// A malformed message on the way costs nothing: the next message on
	// the same WebSocket is answered.
	relay.Inject("SIP/2.0 200\r\n\r\n")
	relay.Inject("OPTIONS sip:bob@callstat.test SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bKjunk1\r\nFrom: <sip:probe@callstat.test>;tag=p1\r\n" +
		"To: <sip:bob@callstat.test>\r\nCall-ID: probe-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	eventually(t, 5*time.Second, "the OPTIONS after the malformed message answered", func() bool {
		return relayed(relay.Frames(), 1, true, "SIP/2.0 200 OK", "probe-1")
	})

	relay.Cut()
	eventually(t, 15*time.Second, "bob connected and registered again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(changes) > 0 && changes[len(changes)-1].State == call.SignalingConnected
	})
	mu.Lock()
	first := changes[0]
	mu.Unlock()
	if first.State != call.SignalingDisconnected || first.Err == nil || !strings.Contains(first.Err.Error(), "SIP WebSocket") {
		t.Errorf("first signaling change %+v, want disconnected with an error naming the SIP WebSocket", first)
	}
	if !relayed(relay.Frames(), 2, false, "SIP/2.0 200 OK", "REGISTER") {
		t.Error("no REGISTER answered 200 on the new WebSocket")
	}
	before, beforeBob := inbound(c), inbound(bc)
	eventually(t, 5*time.Second, "media after the drop", func() bool { return inbound(c) > before+50 && inbound(bc) > beforeBob+50 })
	if c.State() != call.StateConnected || bc.State() != call.StateConnected {
		t.Fatalf("states after the drop: %s / %s", c.State(), bc.State())
	}

	bc.Hangup("bob hangs up after reconnecting")
	waitFor(t, c.Done(), "caller Done")
	if tr := c.Transition(); tr.StatusCode != signaling.StatusNormal || !strings.Contains(tr.ReasonText, "bob hangs up") || c.Err() != nil {
		t.Errorf("caller's end: %+v, err %v", tr, c.Err())
	}
	// The BYE went out on the new WebSocket, and Kamailio answered it
	// (the caller may have ended on the in-band RTCP BYE first).
	eventually(t, 10*time.Second, "a BYE answered 200 on the new WebSocket", func() bool {
		f := relay.Frames()
		return relayed(f, 2, true, "BYE ", c.ID()) && relayed(f, 2, false, "SIP/2.0 200 OK", c.ID(), " BYE")
	})
	_ = alice.Close()
	_ = bob.Close()
	answering.Wait()
}

// relayed reports whether a frame on connection n (from the client when
// up) starts with prefix and contains every one of parts.
func relayed(frames []sipkit.Frame, n int, up bool, prefix string, parts ...string) bool {
	for _, f := range frames {
		if f.Conn != n || f.Up != up || !strings.HasPrefix(f.Data, prefix) {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(f.Data, p)
		}
		if all {
			return true
		}
	}
	return false
}
