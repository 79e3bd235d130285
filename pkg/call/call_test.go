package call

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/stats"
)

// testServer runs a real signaling server on a loopback port.
func testServer(t testing.TB) (url string, srv *signaling.Server, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv = signaling.NewServer(signaling.ServerConfig{Logger: testLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, srv.Handler(), 2*time.Second) }()
	return "ws://" + ln.Addr().String() + "/ws", srv, func() {
		cancel()
		<-done
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("CALLSTAT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
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
	return src
}

type recorder struct {
	mu      sync.Mutex
	changes map[string][]StateChange
	started map[string]bool
	ending  map[string]State
}

func newRecorder() *recorder {
	return &recorder{changes: map[string][]StateChange{}, started: map[string]bool{}, ending: map[string]State{}}
}

func (r *recorder) hooks() Hooks {
	return Hooks{
		CallStarted: func(c *Call) { r.mu.Lock(); r.started[c.ID()] = true; r.mu.Unlock() },
		StateChanged: func(c *Call, ch StateChange) {
			r.mu.Lock()
			r.changes[c.ID()] = append(r.changes[c.ID()], ch)
			r.mu.Unlock()
		},
		CallEnding: func(c *Call) { r.mu.Lock(); r.ending[c.ID()] = c.State(); r.mu.Unlock() },
	}
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

func newTestPhone(t testing.TB, url, id string, register bool, src *audio.Source, hooks Hooks) *Phone {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := NewPhone(ctx, Config{
		ServerURL: url, Identity: id, Register: register, Source: src,
		ICELoopback: true, Logger: testLogger(t), Hooks: hooks,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wait(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// autoAnswer answers every incoming call until the phone closes.
func autoAnswer(t testing.TB, p *Phone) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c := range p.Incoming() {
			if err := c.Answer(context.Background()); err != nil && !errors.Is(err, ErrInvalidState) {
				t.Errorf("answer: %v", err)
			}
		}
	}()
	return &wg
}

func TestCallConnectsAndEnds(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	url, _, stopServer := testServer(t)
	defer stopServer()
	toneA, toneB := testSource(t, "tone:1000"), testSource(t, "tone:600")
	defer toneA.Close()
	defer toneB.Close()

	calleeRec, callerRec := newRecorder(), newRecorder()
	alice := newTestPhone(t, url, "alice@example.com", true, toneA, calleeRec.hooks())
	answering := autoAnswer(t, alice)
	bob := newTestPhone(t, url, "bob@example.com", false, toneB, callerRec.hooks())

	c, err := bob.Dial(context.Background(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c.Connected(), "caller Connected")
	if c.SetupTime() <= 0 {
		t.Errorf("setup time %v, want > 0", c.SetupTime())
	}

	// Audio flows both ways: each side's inbound-rtp counts packets.
	deadline := time.Now().Add(10 * time.Second)
	for inboundPackets(c) <= 10 || len(alice.Calls()) != 1 || inboundPackets(alice.Calls()[0]) <= 10 {
		if time.Now().After(deadline) {
			t.Fatalf("no audio: caller received %d packets", inboundPackets(c))
		}
		time.Sleep(50 * time.Millisecond)
	}
	aliceCall := alice.Calls()[0]

	c.Hangup("test done")
	wait(t, c.Done(), "caller Done")
	wait(t, aliceCall.Done(), "callee Done")
	if err := c.Err(); err != nil {
		t.Errorf("caller err = %v, want nil", err)
	}
	if err := aliceCall.Err(); err != nil {
		t.Errorf("callee err = %v, want nil", err)
	}
	if got, want := strings.Join(callerRec.states(c.ID()), ","), "Initiated,Ringing,Connected,Ended"; got != want {
		t.Errorf("caller states %s, want %s", got, want)
	}
	if got, want := strings.Join(calleeRec.states(c.ID()), ","), "Ringing,Connected,Ended"; got != want {
		t.Errorf("callee states %s, want %s", got, want)
	}
	if tr := aliceCall.Transition(); tr.StatusCode != signaling.StatusNormal {
		t.Errorf("callee end transition %+v", tr)
	}
	if callerRec.ending[c.ID()] != StateEnded || !callerRec.started[c.ID()] {
		t.Errorf("caller hooks: started=%v ending=%v", callerRec.started[c.ID()], callerRec.ending[c.ID()])
	}

	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	answering.Wait()
}

func inboundPackets(c *Call) uint32 {
	r, err := c.CollectStats()
	if err != nil {
		return 0
	}
	for _, o := range r.Objects {
		if o.Type() == "inbound-rtp" {
			n, _ := o.Number("packetsReceived")
			return uint32(n)
		}
	}
	return 0
}

func TestCallErrors(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	url, _, stopServer := testServer(t)
	defer stopServer()
	tone := testSource(t, "tone")
	defer tone.Close()

	t.Run("unknown callee", func(t *testing.T) {
		bob := newTestPhone(t, url, "bob@example.com", false, tone, Hooks{})
		defer bob.Close()
		c, err := bob.Dial(context.Background(), "nobody@example.com")
		if err != nil {
			t.Fatal(err)
		}
		wait(t, c.Done(), "call end")
		if !errors.Is(c.Err(), ErrCalleeNotFound) {
			t.Errorf("err = %v, want ErrCalleeNotFound", c.Err())
		}
		if c.Transition().StatusCode != signaling.StatusCalleeNotFound {
			t.Errorf("transition = %+v", c.Transition())
		}
	})

	t.Run("rejected", func(t *testing.T) {
		alice := newTestPhone(t, url, "carol@example.com", true, tone, Hooks{})
		defer alice.Close()
		bob := newTestPhone(t, url, "bob@example.com", false, tone, Hooks{})
		defer bob.Close()
		c, err := bob.Dial(context.Background(), "carol@example.com")
		if err != nil {
			t.Fatal(err)
		}
		in := <-alice.Incoming()
		if err := in.Reject(context.Background(), signaling.StatusBusy, "busy here"); err != nil {
			t.Fatal(err)
		}
		wait(t, c.Done(), "call end")
		if !errors.Is(c.Err(), ErrRejected) {
			t.Errorf("err = %v, want ErrRejected", c.Err())
		}
	})

	t.Run("caller gives up: callee Cancelled", func(t *testing.T) {
		alice := newTestPhone(t, url, "dave@example.com", true, tone, Hooks{})
		defer alice.Close()
		bob := newTestPhone(t, url, "bob@example.com", false, tone, Hooks{})
		defer bob.Close()
		c, err := bob.Dial(context.Background(), "dave@example.com")
		if err != nil {
			t.Fatal(err)
		}
		in := <-alice.Incoming()
		c.Hangup("changed my mind")
		wait(t, c.Done(), "caller end")
		wait(t, in.Done(), "callee end")
		if !errors.Is(c.Err(), ErrInterrupted) {
			t.Errorf("caller err = %v, want ErrInterrupted", c.Err())
		}
		if in.State() != StateCancelled {
			t.Errorf("callee state = %s (%+v), want Cancelled", in.State(), in.Transition())
		}
	})

	t.Run("never connected call closes", func(t *testing.T) {
		// A registered callee that never answers; the phone is closed with
		// the call ringing on both sides. Nothing may hang.
		alice := newTestPhone(t, url, "erin@example.com", true, tone, Hooks{})
		bob := newTestPhone(t, url, "bob@example.com", false, tone, Hooks{})
		c, err := bob.Dial(context.Background(), "erin@example.com")
		if err != nil {
			t.Fatal(err)
		}
		<-alice.Incoming()
		done := make(chan struct{})
		go func() {
			_ = bob.Close()
			_ = alice.Close()
			close(done)
		}()
		wait(t, done, "phones to close")
		if !errors.Is(c.Err(), ErrInterrupted) {
			t.Errorf("err = %v", c.Err())
		}
	})

	t.Run("server unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		_, err = NewPhone(context.Background(), Config{ServerURL: "ws://" + addr + "/ws", Identity: "x", Source: tone})
		if !errors.Is(err, ErrServerUnreachable) {
			t.Errorf("err = %v, want ErrServerUnreachable", err)
		}
	})

	t.Run("not a websocket server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: http.NotFoundHandler()}
		go func() { _ = hs.Serve(ln) }()
		defer hs.Close()
		_, err = NewPhone(context.Background(), Config{ServerURL: "ws://" + ln.Addr().String() + "/ws", Identity: "x", Source: tone})
		if !errors.Is(err, ErrServerUnreachable) {
			t.Errorf("err = %v, want ErrServerUnreachable", err)
		}
	})
}

// The far end's audio is decoded and measured as a browser reports it: a
// tone of amplitude 0.5 reads as audioLevel 0.5 and totalSamplesReceived
// grows at 48 kHz; the local source shows up as media-source; each side
// records what it heard.
func TestCallAudioStats(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	url, _, stopServer := testServer(t)
	defer stopServer()
	toneA, toneB := testSource(t, "tone:600"), testSource(t, "tone:1000")
	defer toneA.Close()
	defer toneB.Close()
	dir := t.TempDir()
	record := func(who string) func(*Call) string {
		return func(c *Call) string { return filepath.Join(dir, who+"-"+c.ID()+".wav") }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	alice, err := NewPhone(ctx, Config{ServerURL: url, Identity: "alice@example.com", Register: true, Source: toneA,
		ICELoopback: true, Logger: testLogger(t), RecordPath: record("alice")})
	if err != nil {
		t.Fatal(err)
	}
	answering := autoAnswer(t, alice)
	bob, err := NewPhone(ctx, Config{ServerURL: url, Identity: "bob@example.com", Source: toneB,
		ICELoopback: true, Logger: testLogger(t), RecordPath: record("bob")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := bob.Dial(context.Background(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c.Connected(), "caller Connected")

	deadline := time.Now().Add(10 * time.Second)
	for c.ReceivedAudio().TotalSamplesReceived < 5*960 {
		if time.Now().After(deadline) {
			t.Fatalf("no audio decoded: %+v", c.ReceivedAudio())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// totalSamplesReceived over a stretch of the call, against the clock.
	start, s0 := time.Now(), c.ReceivedAudio().TotalSamplesReceived
	// The measured stretch is the test's subject; 4 s keeps the jitter of
	// packet delivery at its ends (tens of ms on a loaded machine) well
	// inside the tolerance.
	time.Sleep(4 * time.Second)
	el, s1 := time.Since(start), c.ReceivedAudio().TotalSamplesReceived
	got := float64(s1-s0) / 48000
	if diff := math.Abs(got-el.Seconds()) / el.Seconds(); diff > 0.05 {
		t.Errorf("totalSamplesReceived grew by %.3f s of audio in %.3f s (%.1f%% off)", got, el.Seconds(), 100*diff)
	}

	rep, err := c.CollectStats()
	if err != nil {
		t.Fatal(err)
	}
	var in, ms stats.Object
	for _, o := range rep.Objects {
		switch o["type"] {
		case "inbound-rtp":
			in = o
		case "media-source":
			ms = o
		}
	}
	if in == nil || ms == nil {
		t.Fatalf("report lacks inbound-rtp or media-source: %v", rep.Objects)
	}
	t.Logf("inbound audioLevel %v; %.3f s of audio in %.3f s; media-source %v", in["audioLevel"], got, el.Seconds(), ms)
	if lvl, _ := in["audioLevel"].(float64); math.Abs(lvl-audio.ToneAmplitude) > 0.05 {
		t.Errorf("inbound audioLevel %v, want about %v", in["audioLevel"], audio.ToneAmplitude)
	}
	if n, _ := in["totalSamplesReceived"].(uint64); n < s1 {
		t.Errorf("inbound totalSamplesReceived %v, want >= %d", in["totalSamplesReceived"], s1)
	}
	for _, f := range []string{"totalAudioEnergy", "totalSamplesDuration", "jitterBufferDelay", "jitterBufferTargetDelay",
		"jitterBufferMinimumDelay", "totalProcessingDelay"} {
		if v, _ := in[f].(float64); v <= 0 {
			t.Errorf("inbound %s = %v", f, in[f])
		}
	}
	// The playout path's figures: what it emitted (decoded) is what
	// arrived less what is still buffered, at most its target delay.
	emitted, _ := in["jitterBufferEmittedCount"].(uint64)
	if n, _ := in["totalSamplesReceived"].(uint64); emitted == 0 || emitted > n+48000/10 {
		t.Errorf("inbound jitterBufferEmittedCount %v, totalSamplesReceived %v", in["jitterBufferEmittedCount"], in["totalSamplesReceived"])
	}
	var playout stats.Object
	for _, o := range rep.Objects {
		if o["type"] == "media-playout" && o["id"] == in["playoutId"] {
			playout = o
		}
	}
	if playout == nil {
		t.Errorf("inbound playoutId %v names no media-playout object", in["playoutId"])
	} else if n, _ := playout["totalSamplesCount"].(uint64); n != in["totalSamplesReceived"] {
		t.Errorf("media-playout totalSamplesCount %v, inbound totalSamplesReceived %v", playout["totalSamplesCount"], in["totalSamplesReceived"])
	}
	if lvl, _ := ms["audioLevel"].(float64); math.Abs(lvl-audio.ToneAmplitude) > 0.001 {
		t.Errorf("media-source audioLevel %v, want %v", ms["audioLevel"], audio.ToneAmplitude)
	}
	// The shared source ran before the call: the call's media-source
	// counts only from when the call attached it.
	callAge := time.Since(c.StartedAt()).Seconds()
	if d, _ := ms["totalSamplesDuration"].(float64); d < 3.5 || d > callAge+0.1 {
		t.Errorf("media-source totalSamplesDuration %v, want between 3.5 and the call's age %.2f", ms["totalSamplesDuration"], callAge)
	}

	aliceCall := alice.Calls()[0]
	c.Hangup("test done")
	wait(t, c.Done(), "caller Done")
	wait(t, aliceCall.Done(), "callee Done")
	for _, tt := range []struct {
		call   *Call
		who    string
		hz, no float64
	}{{c, "bob", 600, 1000}, {aliceCall, "alice", 1000, 600}} {
		if err := tt.call.RecordErr(); err != nil {
			t.Errorf("%s: %v", tt.who, err)
		}
		heard, info, err := audio.LoadWAV(record(tt.who)(tt.call))
		if err != nil {
			t.Fatal(err)
		}
		if info.Duration() < 3 {
			t.Errorf("%s recorded %.2f s", tt.who, info.Duration())
		}
		if a := audio.ToneLevel(heard, 48000, tt.hz); a < 0.4 {
			t.Errorf("%s's recording: %g Hz at %.3f, want about 0.5", tt.who, tt.hz, a)
		}
		if a := audio.ToneLevel(heard, 48000, tt.no); a > 0.02 {
			t.Errorf("%s's recording: its own %g Hz at %.3f", tt.who, tt.no, a)
		}
	}
	_ = bob.Close()
	_ = alice.Close()
	answering.Wait()
}
