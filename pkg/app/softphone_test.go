package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/signaling/token"
	"github.com/callstat/callstat/pkg/stats/report"
	"github.com/callstat/callstat/pkg/stats/store"
)

// One call from Call to Answer: both ends hear of it through their
// observers and their Ended functions, with the summaries the store
// keeps; Answer stops after MaxCalls, and nothing is left running.
func TestCallAndAnswer(t *testing.T) {
	defer test.TimeOut(time.Minute).Stop()
	defer test.CheckRoutines(t)()
	url, stopServer := testServer(t)
	defer stopServer()
	dir := t.TempDir()

	var (
		mu        sync.Mutex
		answered  []string
		calleeSum report.CallSummary
	)
	calleeObs := &countingObserver{}
	registered := make(chan struct{})
	answerDone := make(chan error, 1)
	callee := phoneConfig(t, url, dir, "alice@example.com", 440)
	callee.Observers = []Observer{calleeObs}
	go func() {
		answerDone <- Answer(context.Background(), callee, AnswerConfig{
			MaxCalls:   1,
			Registered: func() { close(registered) },
			Answered:   func(c *call.Call) { mu.Lock(); answered = append(answered, c.ID()); mu.Unlock() },
			Ended: func(c *call.Call, sum report.CallSummary, err error) {
				if err != nil {
					t.Errorf("callee summary: %v", err)
				}
				mu.Lock()
				calleeSum = sum
				mu.Unlock()
			},
		})
	}()
	select {
	case <-registered:
	case err := <-answerDone:
		t.Fatalf("Answer ended before registering: %v", err)
	}

	callerObs := &countingObserver{}
	caller := phoneConfig(t, url, dir, "bob@example.com", 880)
	caller.Observers = []Observer{callerObs}
	caller.AnswerTimeout = 10 * time.Second
	var placed, ended *call.Call
	res, err := Call(context.Background(), caller, CallConfig{
		Callee:   "alice@example.com",
		Duration: 500 * time.Millisecond,
		Placed:   func(c *call.Call) { placed = c },
		Ended:    func(c *call.Call, _ report.CallSummary, _ error) { ended = c },
	})
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if placed == nil || placed != ended || res.Call != placed {
		t.Fatalf("Placed saw %v, Ended %v, the result %v", placed, ended, res.Call)
	}
	s := res.Summary
	if res.SummaryErr != nil || s.CallID != placed.ID() || s.Participant != "bob@example.com" || s.EndState != "Ended" ||
		s.SetupMs == nil || s.Samples < 1 || s.PacketsReceived == 0 {
		t.Errorf("caller summary %+v (%v)", s, res.SummaryErr)
	}
	select {
	case err := <-answerDone:
		if err != nil {
			t.Fatalf("Answer: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Answer did not stop after MaxCalls")
	}
	mu.Lock()
	if len(answered) != 1 || answered[0] != placed.ID() || calleeSum.CallID != placed.ID() || calleeSum.Participant != "alice@example.com" {
		t.Errorf("answered %v, callee summary %+v", answered, calleeSum)
	}
	mu.Unlock()
	for name, o := range map[string]*countingObserver{"caller": callerObs, "callee": calleeObs} {
		if started, ending, samples := o.counts(); started != 1 || ending != 1 || samples < 1 {
			t.Errorf("%s observer: %d started, %d ending, %d samples", name, started, ending, samples)
		}
	}
}

// Token parameters for another id are refused before anything is opened:
// no store file appears.
func TestOpenRefusesTokensForAnotherID(t *testing.T) {
	dir := t.TempDir()
	cfg := phoneConfig(t, "ws://127.0.0.1:9/ws", dir, "carol@x", 440)
	cfg.Register = true
	cfg.Tokens = &token.Params{Realm: "r", AccountToken: "a", FromToken: "f", ToToken: "t", Caller: "sip:bob@x", Callee: "sip:alice@x"}
	_, err := Open(context.Background(), cfg)
	if !errors.Is(err, ErrTokens) || !strings.Contains(err.Error(), "not for carol@x") {
		t.Fatalf("err = %v, want ErrTokens naming carol@x", err)
	}
	if _, err := os.Stat(cfg.StorePath); !os.IsNotExist(err) {
		t.Errorf("store file exists after the refusal: %v", err)
	}
}

// The store is opened first: a store that cannot be opened stops the
// softphone before the audio or the server (nothing listens at this URL,
// which would be another error).
func TestOpenStoreFirst(t *testing.T) {
	cfg := phoneConfig(t, "ws://127.0.0.1:9/ws", t.TempDir(), "bob@x", 440)
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.StorePath = filepath.Join(blocker, "callstat.db")
	if _, err := Open(context.Background(), cfg); !errors.Is(err, store.ErrOpen) {
		t.Fatalf("err = %v, want store.ErrOpen", err)
	}
}

func TestDescribe(t *testing.T) {
	// Describe reads a finished call: the one TestCallAndAnswer makes is
	// checked there through the logs; here only its wording for a call
	// that never connected.
	url, _ := testServer(t)
	cfg := phoneConfig(t, url, t.TempDir(), "bob@example.com", 880)
	res, err := Call(context.Background(), cfg, CallConfig{Callee: "nobody@example.com"})
	if !errors.Is(err, call.ErrCalleeNotFound) || res.Call == nil {
		t.Fatalf("err = %v, want ErrCalleeNotFound", err)
	}
	got := Describe(res.Call)
	if !strings.HasPrefix(got, "call "+res.Call.ID()+" to nobody@example.com: ") || strings.Contains(got, "connected") {
		t.Errorf("Describe = %q", got)
	}
}
