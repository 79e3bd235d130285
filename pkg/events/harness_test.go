package events

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/stats/collect"
)

// harness is a signaling server on loopback with alice (registered,
// answering every call) and bob (an anonymous caller), both with hooks.
type harness struct {
	bob, alice *call.Phone
	src        *audio.Source
	answered   chan *call.Call
	answering  sync.WaitGroup
	stopServer func()
}

func newHarness(t *testing.T, hooks call.Hooks) *harness {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := signaling.NewServer(signaling.ServerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, srv.Handler(), 2*time.Second) }()
	h := &harness{answered: make(chan *call.Call, 8), stopServer: func() { cancel(); <-served }}
	spec, _ := audio.ParseSpec("tone:440")
	if h.src, err = audio.Open(context.Background(), spec, nil); err != nil {
		h.stopServer()
		t.Fatal(err)
	}
	url := "ws://" + ln.Addr().String() + "/ws"
	phone := func(id string, register bool) *call.Phone {
		p, err := call.NewPhone(t.Context(), call.Config{ServerURL: url, Identity: id, Register: register, Source: h.src,
			ICELoopback: true, Hooks: hooks})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	h.alice = phone("alice@example.com", true)
	h.bob = phone("bob@example.com", false)
	h.answering.Add(1)
	go func() {
		defer h.answering.Done()
		for c := range h.alice.Incoming() {
			_ = c.Answer(context.Background())
			h.answered <- c
		}
	}()
	return h
}

// collectStatsHooks returns hooks that start collecting a call's stats when
// it starts and stop, with a last sample, when it ends, as the softphone
// does (cmd/callstat/internal/cmdutil).
func collectStatsHooks(t *testing.T, col *collect.Collector) call.Hooks {
	return call.Hooks{
		CallStarted: func(c *call.Call) { col.Start(c, c.Record()) },
		CallEnding: func(c *call.Call) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := col.Stop(ctx, c.EndRecord(), true); err != nil {
				t.Errorf("call %s: could not store the call's last stats: %v", c.ID(), err)
			}
		},
	}
}

func (h *harness) incoming(t *testing.T) *call.Call {
	t.Helper()
	select {
	case c := <-h.answered:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("alice received no call")
		return nil
	}
}

func (h *harness) close(t *testing.T) {
	t.Helper()
	if err := h.bob.Close(); err != nil {
		t.Error(err)
	}
	if err := h.alice.Close(); err != nil {
		t.Error(err)
	}
	h.answering.Wait()
	_ = h.src.Close()
	h.stopServer()
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// A call that fails emits its final stateChange with the error, then
// call:error.
func TestStreamOfAFailedCall(t *testing.T) {
	var out lines
	w := NewWriter(&out, Config{})
	h := newHarness(t, w.Hooks())
	c, err := h.bob.Dial(t.Context(), "nobody@example.com")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, c.Done(), "the call to end")
	h.close(t)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	evs := out.events(t)
	if len(evs) < 3 {
		t.Fatalf("events: %+v", evs)
	}
	end, last := evs[len(evs)-2], evs[len(evs)-1]
	if end.Type != TypeStateChange || end.State != "Ended" || end.Error == nil || end.Error.Name != "callee_not_found" ||
		end.Transition.StatusCode != signaling.StatusCalleeNotFound {
		t.Errorf("final stateChange = %+v", end)
	}
	if last.Type != TypeError || last.Error == nil || *last.Error != *end.Error || last.CallID != c.ID() {
		t.Errorf("last event = %+v, want call:error repeating the error", last)
	}
}
