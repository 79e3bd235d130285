package sip_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/sipkit"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/signaling/sip"
)

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("CALLSTAT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func testSource(t testing.TB, spec string) *audio.Source {
	t.Helper()
	s, err := audio.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	src, err := audio.Open(context.Background(), s, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// aor is a test user's address of record.
func aor(user string) string { return "sip:" + user + "@" + sipkit.Domain }

// phoneOpts is how a test phone reaches the server.
type phoneOpts struct {
	url      string
	user     string // a test user
	from     string // an anonymous caller's id (instead of user@domain)
	password string // default: the test user's
	register bool
	src      *audio.Source
	hooks    call.Hooks
	record   string // directory for WAV recordings of what calls hear
	attempts int    // reconnection attempts
}

// sipConfig is the user agent's configuration for o.
func sipConfig(t testing.TB, o phoneOpts) sip.Config {
	pw := o.password
	if pw == "" {
		pw = sipkit.Users[o.user]
	}
	user := o.user + "@" + sipkit.Domain
	if o.from != "" {
		user = o.from
	}
	return sip.Config{URL: o.url, User: user, Register: o.register, Password: pw, Logger: testLogger(t), Trace: os.Getenv("CALLSTAT_SIP_TRACE") != ""}
}

// newPhone makes a pkg/call phone whose signaling is SIP over WebSocket:
// what a command will build in phase 2. Its agent outlives its
// connections (the test closes it after the phone).
func newPhone(t testing.TB, o phoneOpts) (*call.Phone, error) {
	t.Helper()
	cfg := sipConfig(t, o)
	id, err := sip.NormalizeID(cfg.User, "")
	if err != nil {
		t.Fatal(err)
	}
	agent, err := sip.NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Close() })
	pc := call.Config{
		Identity: id, Register: o.register, Source: o.src, ICELoopback: true, NoTrickle: true,
		Logger: testLogger(t), Hooks: o.hooks, AnswerTimeout: 20 * time.Second,
		ReconnectAttempts: o.attempts, ReconnectDelay: 200 * time.Millisecond,
		// Shorter than pion's defaults, long enough for a loaded CI box:
		// no test here waits for a media failure.
		ICEDisconnectedTimeout: 3 * time.Second, ICEFailedTimeout: 6 * time.Second,
		Dial: func(ctx context.Context) (signaling.Conn, error) {
			c, err := agent.Dial(ctx)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
	}
	if o.record != "" {
		pc.RecordPath = func(c *call.Call) string { return filepath.Join(o.record, c.ID()+"-"+string(c.Direction())+".wav") }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := call.NewPhone(ctx, pc)
	if err == nil {
		// Closed by the test, or here when it fails early: its
		// goroutines (and its answerer's) never outlive it.
		t.Cleanup(func() { _ = p.Close() })
	}
	return p, err
}

func mustPhone(t testing.TB, o phoneOpts) *call.Phone {
	t.Helper()
	p, err := newPhone(t, o)
	if err != nil {
		t.Fatalf("phone %s: %v", o.user, err)
	}
	return p
}

func waitFor(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// eventually waits for cond with a deadline.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answerer handles each incoming call with fn until the phone closes.
func answerer(t testing.TB, p *call.Phone, fn func(*call.Call)) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c := range p.Incoming() {
			fn(c)
		}
	}()
	return &wg
}

func answer(t testing.TB) func(*call.Call) {
	return func(c *call.Call) {
		if err := c.Answer(context.Background()); err != nil && !errors.Is(err, call.ErrInvalidState) {
			t.Errorf("answer: %v", err)
		}
	}
}

// recorder keeps each call's state changes.
type recorder struct {
	mu      sync.Mutex
	changes map[string][]call.StateChange
}

func newRecorder() *recorder { return &recorder{changes: map[string][]call.StateChange{}} }

func (r *recorder) hooks() call.Hooks {
	return call.Hooks{StateChanged: func(c *call.Call, ch call.StateChange) {
		r.mu.Lock()
		r.changes[c.ID()] = append(r.changes[c.ID()], ch)
		r.mu.Unlock()
	}}
}

func (r *recorder) states(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ch := range r.changes[id] {
		out = append(out, ch.State.String())
	}
	return out
}

func inbound(c *call.Call) (packets float64) {
	r, err := c.CollectStats()
	if err != nil {
		return 0
	}
	for _, o := range r.Objects {
		if o.Type() == "inbound-rtp" {
			n, _ := o.Number("packetsReceived")
			return n
		}
	}
	return 0
}

// toneIn reports the level of hz in the last second of a WAV recording.
func toneIn(t testing.TB, path string, hz float64) float64 {
	t.Helper()
	samples, _, err := audio.LoadWAV(path) // resampled to audio.SampleRate
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	if len(samples) > audio.SampleRate {
		samples = samples[len(samples)-audio.SampleRate:]
	}
	return audio.ToneLevel(samples, audio.SampleRate, hz)
}
