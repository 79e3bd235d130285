package call

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/mediadevices"
	"github.com/pion/transport/v5/test"
)

// Closing never hangs (item 8 of the reliability issue): many calls at
// once, in every state a call can be in when its phone closes, closed from
// several goroutines at the same time as hang-ups, under -race; every call
// ends and no goroutine is left behind.
func TestCloseCallsInEveryState(t *testing.T) {
	lim := test.TimeOut(120 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	url, _, stopServer := testServer(t)
	defer stopServer()
	tone := testSource(t, "tone")
	defer tone.Close()
	// The hang in mediadevices' Unbind needs one of its tracks bound to a
	// PeerConnection; calls only ever get the pion track the source feeds.
	if _, bound := any(tone.Track()).(mediadevices.Track); bound {
		t.Fatal("Source.Track is a mediadevices track: closing a call could block in its Unbind")
	}

	const perState = 13 // 52 calls
	answerer := newTestPhone(t, url, "answerer@example.com", true, tone, Hooks{})
	answering := autoAnswer(t, answerer)
	ringer := newTestPhone(t, url, "ringer@example.com", true, tone, Hooks{})
	bob := newTestPhone(t, url, "bob@example.com", false, tone, Hooks{})

	dial := func(to string) *Call {
		c, err := bob.Dial(context.Background(), to)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var connected, ringing, failed, fresh []*Call
	for range perState {
		connected = append(connected, dial("answerer@example.com"))
		ringing = append(ringing, dial("ringer@example.com"))
		failed = append(failed, dial("nobody@example.com"))
	}
	for _, c := range connected {
		wait(t, c.Connected(), "a call to connect")
	}
	for _, c := range failed {
		wait(t, c.Done(), "a call to an unknown callee to fail")
	}
	waitState := func(c *Call, s State) {
		deadline := time.Now().Add(15 * time.Second)
		for c.State() != s {
			if time.Now().After(deadline) {
				t.Fatalf("call %s is %s, want %s", c.ID(), c.State(), s)
			}
			time.Sleep(10 * time.Millisecond) // polling a state, not synchronising
		}
	}
	for _, c := range ringing {
		waitState(c, StateRinging)
	}
	// Never connected: placed just now, still Initiating or Initiated
	// when everything closes.
	for range perState {
		fresh = append(fresh, dial("ringer@example.com"))
	}

	// Hang-ups and Close race on every side at once.
	var wg sync.WaitGroup
	all := append(append(append(append([]*Call{}, connected...), ringing...), failed...), fresh...)
	for _, c := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Hangup("closing test")
		}()
	}
	for _, p := range []*Phone{bob, answerer, ringer, bob} { // bob twice: Close is idempotent
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Close()
		}()
	}
	closed := make(chan struct{})
	go func() {
		wg.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(60 * time.Second):
		t.Fatal("closing phones with calls in every state hung")
	}
	answering.Wait()
	for _, c := range all {
		select {
		case <-c.Done():
		default:
			t.Errorf("call %s not done after Close", c.ID())
		}
		if !c.State().Final() {
			t.Errorf("call %s is %s after Close", c.ID(), c.State())
		}
	}
}
