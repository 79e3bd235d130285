package collect_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/collect"
)

var testSDK = stats.SDKInfo{SDK: "callstat", Version: "1.2.3", InstanceID: "0d6f1c1e-5b1a-4a53-9a0e-3f0c3c1b7a11", Platform: "linux/amd64 go1.26"}

var (
	errGetStats = errors.New("fake getStats failure")
	errSinkDown = errors.New("fake store down")
)

// fakeSource is a call whose getStats fails from its failAt-th call on
// (never when failAt is 0).
type fakeSource struct {
	id     string
	failAt int

	mu    sync.Mutex
	calls int
}

func (s *fakeSource) ID() string { return s.id }

func (s *fakeSource) CollectStats() (stats.Report, error) {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	if s.failAt > 0 && n >= s.failAt {
		return stats.Report{}, fmt.Errorf("call %s: %w", s.id, errGetStats)
	}
	return stats.Report{State: "Connected", Objects: []stats.Object{
		{"id": "PC", "type": "peer-connection", "timestamp": float64(time.Now().UnixMilli()), "poll": n},
	}}, nil
}

func (s *fakeSource) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// record is one thing the fake sink stored, in commit order.
type record struct {
	kind        string // begin, sample, end
	participant string
	callID      string
	seq         int
	at          time.Time
}

// fakeSink is an in-memory stats.Sink. Every Write wakes waitFor.
type fakeSink struct {
	mu      sync.Mutex
	recs    []record
	err     error           // returned by every Write
	evict   []stats.Evicted // returned by the next Write that begins a call
	changed chan struct{}   // closed and replaced on every Write
}

func newFakeSink() *fakeSink { return &fakeSink{changed: make(chan struct{})} }

func (s *fakeSink) Write(_ context.Context, b stats.Batch) ([]stats.Evicted, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		close(s.changed)
		s.changed = make(chan struct{})
	}()
	if s.err != nil {
		return nil, s.err
	}
	// The order a store applies a batch in: begins, samples, ends.
	for _, c := range b.Begins {
		s.recs = append(s.recs, record{kind: "begin", participant: c.Participant, callID: c.CallID})
	}
	for _, smp := range b.Samples {
		s.recs = append(s.recs, record{kind: "sample", participant: smp.Participant, callID: smp.CallID, seq: smp.Seq, at: smp.Time})
	}
	for _, e := range b.Ends {
		s.recs = append(s.recs, record{kind: "end", participant: e.Participant, callID: e.CallID})
	}
	var ev []stats.Evicted
	if len(b.Begins) > 0 {
		ev, s.evict = s.evict, nil
	}
	return ev, nil
}

func (s *fakeSink) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *fakeSink) setEvict(ev []stats.Evicted) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evict = ev
}

// records returns a copy of what was stored.
func (s *fakeSink) records() []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record(nil), s.recs...)
}

// of filters recs by kind and call.
func of(recs []record, kind, callID string) []record {
	var out []record
	for _, r := range recs {
		if r.kind == kind && r.callID == callID {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits, without polling, until cond holds for what was stored.
func (s *fakeSink) waitFor(t *testing.T, what string, cond func(recs []record) bool) []record {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		recs := append([]record(nil), s.recs...)
		changed := s.changed
		s.mu.Unlock()
		if cond(recs) {
			return recs
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// find returns the attributes of each record with message msg.
func (h *logRecorder) find(msg string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, r := range h.recs {
		if r.Message != msg {
			continue
		}
		attrs := map[string]any{"level": r.Level}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.Any()
			return true
		})
		out = append(out, attrs)
	}
	return out
}

func newTestCollector(t *testing.T, sink stats.Sink, interval time.Duration, onSample func(stats.Sample)) (*collect.Collector, *logRecorder) {
	t.Helper()
	logs := &logRecorder{}
	c := collect.New(collect.Config{
		Sink: sink, Interval: interval, SDK: testSDK, Logger: slog.New(logs), OnSample: onSample,
	})
	return c, logs
}

func rec(callID string) stats.CallRecord {
	return stats.CallRecord{CallID: callID, Participant: "bob", Direction: "outgoing", Peer: "alice", StartedAt: time.Now()}
}

func end(callID string) stats.EndRecord {
	return stats.EndRecord{CallID: callID, Participant: "bob", State: "Ended", EndedAt: time.Now()}
}

func stop(t *testing.T, c *collect.Collector, callID string, final bool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Stop(ctx, end(callID), final)
}

const testInterval = 20 * time.Millisecond

// Each call is sampled on its own phase: never before one interval per
// sample has passed since it started (the bound that holds however slow the
// machine is), and steadily, so that a count is reached in bounded time.
func TestCollectorSamplesEachCallEveryInterval(t *testing.T) {
	defer test.CheckRoutines(t)()
	sink := newFakeSink()
	c, _ := newTestCollector(t, sink, testInterval, nil)
	defer func() { _ = c.Close() }()

	const calls, want = 3, 8
	started := map[string]time.Time{}
	for i := range calls {
		id := fmt.Sprintf("call-%d", i)
		// Staggered starts: each call keeps the phase it started on.
		if i > 0 {
			prev := fmt.Sprintf("call-%d", i-1)
			sink.waitFor(t, prev+"'s second sample", func(recs []record) bool { return len(of(recs, "sample", prev)) >= 2 })
		}
		started[id] = time.Now()
		c.Start(&fakeSource{id: id}, rec(id))
	}
	recs := sink.waitFor(t, fmt.Sprintf("%d samples of every call", want), func(recs []record) bool {
		for id := range started {
			if len(of(recs, "sample", id)) < want {
				return false
			}
		}
		return true
	})
	checked := time.Now()

	for id, t0 := range started {
		samples := of(recs, "sample", id)
		for i, s := range samples {
			if s.seq != i {
				t.Fatalf("%s: sample %d has seq %d", id, i, s.seq)
			}
			if min := time.Duration(s.seq+1) * testInterval; s.at.Sub(t0) < min {
				t.Errorf("%s: sample %d taken %v after start, before %v", id, s.seq, s.at.Sub(t0), min)
			}
		}
		// Not faster than the interval: at most one sample per interval.
		if limit := int(checked.Sub(t0)/testInterval) + 1; len(samples) > limit {
			t.Errorf("%s: %d samples in %v, more than one per %v", id, len(samples), checked.Sub(t0), testInterval)
		}
		// The call's record is committed before its first sample.
		firstBegin, firstSample := -1, -1
		for i, r := range recs {
			if r.callID != id {
				continue
			}
			if r.kind == "begin" && firstBegin < 0 {
				firstBegin = i
			}
			if r.kind == "sample" && firstSample < 0 {
				firstSample = i
			}
		}
		if firstBegin < 0 || firstBegin > firstSample {
			t.Errorf("%s: begin record at %d, first sample at %d", id, firstBegin, firstSample)
		}
		if n := len(of(recs, "begin", id)); n != 1 {
			t.Errorf("%s: %d begin records, want 1", id, n)
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
}

// As in the seed, the first getStats failure ends that call's collection,
// and says why; the other calls go on.
func TestCollectorSourceFailureStopsOnlyThatCall(t *testing.T) {
	defer test.CheckRoutines(t)()
	sink := newFakeSink()
	c, logs := newTestCollector(t, sink, testInterval, nil)
	defer func() { _ = c.Close() }()

	good1, bad, good2 := &fakeSource{id: "good1"}, &fakeSource{id: "bad", failAt: 3}, &fakeSource{id: "good2"}
	for _, s := range []*fakeSource{good1, bad, good2} {
		c.Start(s, rec(s.id))
	}
	sink.waitFor(t, "the failure and 5 samples of the others", func(recs []record) bool {
		return bad.Calls() >= 3 && len(of(recs, "sample", "good1")) >= 5 && len(of(recs, "sample", "good2")) >= 5
	})
	// Five more intervals for the others, none for the failed call.
	base := len(of(sink.records(), "sample", "good2"))
	recs := sink.waitFor(t, "5 more samples of good2", func(recs []record) bool { return len(of(recs, "sample", "good2")) >= base+5 })
	if n := bad.Calls(); n != 3 {
		t.Errorf("failed source polled %d times, want 3 (no poll after the failure)", n)
	}
	if n := len(of(recs, "sample", "bad")); n != 2 {
		t.Errorf("failed call has %d samples, want the 2 before the failure", n)
	}
	failures := logs.find("Stats collection failed.")
	if len(failures) != 1 {
		t.Fatalf("logged %d failures, want 1: %v", len(failures), failures)
	}
	if err, _ := failures[0]["err"].(error); !errors.Is(err, errGetStats) || failures[0]["call"] != "bad" {
		t.Errorf("failure logged as %v; want call bad with the getStats error", failures[0])
	}
	if failures[0]["level"] != slog.LevelError {
		t.Errorf("failure logged at %v, want ERROR", failures[0]["level"])
	}

	// Stopping the failed call still ends its record, without a sample.
	if err := stop(t, c, "bad", true); err != nil {
		t.Fatal(err)
	}
	recs = sink.records()
	if len(of(recs, "end", "bad")) != 1 || len(of(recs, "sample", "bad")) != 2 || bad.Calls() != 3 {
		t.Errorf("after Stop: %d ends, %d samples, %d polls", len(of(recs, "end", "bad")), len(of(recs, "sample", "bad")), bad.Calls())
	}
}

func TestCollectorStop(t *testing.T) {
	tests := []struct {
		name        string
		final       bool
		wantSamples int
	}{
		{"with a final sample", true, 1},
		{"without", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer test.CheckRoutines(t)()
			sink := newFakeSink()
			var mu sync.Mutex
			var seen []stats.Sample
			// An interval that never elapses: the only sample is Stop's.
			c, _ := newTestCollector(t, sink, time.Hour, func(s stats.Sample) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, s)
			})
			defer func() { _ = c.Close() }()

			src := &fakeSource{id: "c1"}
			c.Start(src, rec("c1"))
			if err := stop(t, c, "c1", tt.final); err != nil {
				t.Fatal(err)
			}
			// Committed before Stop returned: no waiting here.
			recs := sink.records()
			var kinds []string
			for _, r := range recs {
				kinds = append(kinds, r.kind)
			}
			want := []string{"begin"}
			for range tt.wantSamples {
				want = append(want, "sample")
			}
			want = append(want, "end")
			if fmt.Sprint(kinds) != fmt.Sprint(want) {
				t.Errorf("stored %v, want %v", kinds, want)
			}
			if got := c.Written(); got != tt.wantSamples {
				t.Errorf("Written() = %d, want %d", got, tt.wantSamples)
			}
			mu.Lock()
			if len(seen) != tt.wantSamples {
				t.Errorf("OnSample saw %d samples, want %d", len(seen), tt.wantSamples)
			}
			mu.Unlock()
			if tt.final && src.Calls() != 1 {
				t.Errorf("source polled %d times, want 1", src.Calls())
			}
		})
	}
}

// Stop after some scheduled samples: the final one follows them, and the
// call is not polled again while others are.
func TestCollectorStopEndsCollection(t *testing.T) {
	defer test.CheckRoutines(t)()
	sink := newFakeSink()
	c, _ := newTestCollector(t, sink, testInterval, nil)
	defer func() { _ = c.Close() }()

	a, b := &fakeSource{id: "a"}, &fakeSource{id: "b"}
	c.Start(a, rec("a"))
	c.Start(b, rec("b"))
	sink.waitFor(t, "3 samples of a", func(recs []record) bool { return len(of(recs, "sample", "a")) >= 3 })
	if err := stop(t, c, "a", true); err != nil {
		t.Fatal(err)
	}
	recs := sink.records()
	samples := of(recs, "sample", "a")
	endAt := -1
	for i, r := range recs {
		if r.callID == "a" && r.kind == "end" {
			endAt = i
		}
	}
	if endAt < 0 {
		t.Fatal("a's end record was not committed when Stop returned")
	}
	for _, r := range recs[endAt+1:] {
		if r.callID == "a" {
			t.Errorf("a's %s record after its end", r.kind)
		}
	}
	if len(samples) != a.Calls() || samples[len(samples)-1].seq != a.Calls()-1 {
		t.Errorf("a: %d samples stored, last seq %d, %d polls", len(samples), samples[len(samples)-1].seq, a.Calls())
	}
	polls := a.Calls()
	base := len(of(recs, "sample", "b"))
	sink.waitFor(t, "5 more samples of b", func(recs []record) bool { return len(of(recs, "sample", "b")) >= base+5 })
	if a.Calls() != polls {
		t.Errorf("a polled %d times after Stop", a.Calls()-polls)
	}
	// Stopping a call the collector does not know still ends its record.
	if err := stop(t, c, "unknown", true); err != nil {
		t.Fatal(err)
	}
	if len(of(sink.records(), "end", "unknown")) != 1 {
		t.Error("no end record for an unknown call")
	}
}

func TestCollectorOnSampleSeesEverySample(t *testing.T) {
	defer test.CheckRoutines(t)()
	sink := newFakeSink()
	var mu sync.Mutex
	seen := map[string]bool{}
	c, _ := newTestCollector(t, sink, testInterval, func(s stats.Sample) {
		mu.Lock()
		defer mu.Unlock()
		if !stats.IsSDKEntry(s.Objects[0]) {
			t.Errorf("OnSample got a sample without the SDK entry first")
		}
		seen[fmt.Sprint(s.CallID, "/", s.Seq)] = true
	})
	defer func() { _ = c.Close() }()
	for _, id := range []string{"a", "b"} {
		c.Start(&fakeSource{id: id}, rec(id))
	}
	sink.waitFor(t, "4 samples of each call", func(recs []record) bool {
		return len(of(recs, "sample", "a")) >= 4 && len(of(recs, "sample", "b")) >= 4
	})
	for _, id := range []string{"a", "b"} {
		if err := stop(t, c, id, true); err != nil {
			t.Fatal(err)
		}
	}
	stored := map[string]bool{}
	for _, r := range sink.records() {
		if r.kind == "sample" {
			stored[fmt.Sprint(r.callID, "/", r.seq)] = true
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != fmt.Sprint(stored) {
		t.Errorf("OnSample saw %v\nstored       %v", seen, stored)
	}
	if c.Written() != len(stored) {
		t.Errorf("Written() = %d, stored %d", c.Written(), len(stored))
	}
}

func TestCollectorStoreErrors(t *testing.T) {
	defer test.CheckRoutines(t)()
	sink := newFakeSink()
	c, logs := newTestCollector(t, sink, time.Hour, nil)
	defer func() { _ = c.Close() }()

	if c.Err() != nil {
		t.Fatalf("Err() = %v before any write", c.Err())
	}
	sink.setErr(errSinkDown)
	c.Start(&fakeSource{id: "c1"}, rec("c1"))
	if err := stop(t, c, "c1", true); !errors.Is(err, errSinkDown) {
		t.Errorf("Stop() = %v, want the store's error", err)
	}
	if err := c.Err(); !errors.Is(err, errSinkDown) {
		t.Errorf("Err() = %v, want the store's error", err)
	}
	if n := len(logs.find("stats store write failed")); n == 0 {
		t.Error("the store error was not logged")
	}
	if c.Written() != 0 {
		t.Errorf("Written() = %d after failed writes", c.Written())
	}
	if err := c.Close(); !errors.Is(err, errSinkDown) {
		t.Errorf("Close() = %v, want the store's error", err)
	}
}

func TestCollectorLogsEvictions(t *testing.T) {
	defer test.CheckRoutines(t)()
	sink := newFakeSink()
	sink.setEvict([]stats.Evicted{{Participant: "bob", CallID: "oldest"}})
	c, logs := newTestCollector(t, sink, time.Hour, nil)
	defer func() { _ = c.Close() }()
	c.Start(&fakeSource{id: "new"}, rec("new"))
	if err := stop(t, c, "new", false); err != nil {
		t.Fatal(err)
	}
	got := logs.find(stats.EvictionMessage)
	if len(got) != 1 || got[0]["call"] != "oldest" || got[0]["participant"] != "bob" {
		t.Errorf("eviction logs = %v", got)
	}
}

// Starting a call twice does not sample it twice.
func TestCollectorDuplicateStart(t *testing.T) {
	defer test.CheckRoutines(t)()
	sink := newFakeSink()
	c, _ := newTestCollector(t, sink, time.Hour, nil)
	defer func() { _ = c.Close() }()
	src := &fakeSource{id: "c1"}
	c.Start(src, rec("c1"))
	c.Start(src, rec("c1"))
	if err := stop(t, c, "c1", true); err != nil {
		t.Fatal(err)
	}
	recs := sink.records()
	if len(of(recs, "begin", "c1")) != 1 || len(of(recs, "sample", "c1")) != 1 || src.Calls() != 1 {
		t.Errorf("stored %v, polled %d times", recs, src.Calls())
	}
}

func TestCollectorClose(t *testing.T) {
	defer test.CheckRoutines(t)()
	sink := newFakeSink()
	c, _ := newTestCollector(t, sink, time.Hour, nil)
	for i := range 3 {
		id := fmt.Sprint("c", i)
		c.Start(&fakeSource{id: id}, rec(id))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// What was handed over before Close is committed.
	if n := len(sink.records()); n != 3 {
		t.Errorf("%d records committed, want the 3 begins", n)
	}
	// After Close: no panic (Start used to send on the closed queue), no
	// write, and Stop says why.
	for i := range 100 {
		c.Start(&fakeSource{id: "late"}, rec(fmt.Sprint("late", i)))
	}
	if err := stop(t, c, "c0", true); !errors.Is(err, collect.ErrClosed) {
		t.Errorf("Stop after Close = %v, want ErrCollectorClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
	if n := len(sink.records()); n != 3 {
		t.Errorf("%d records after Close, want 3", n)
	}
}

// Stop gives up when its context ends and says so.
func TestCollectorStopContext(t *testing.T) {
	defer test.CheckRoutines(t)()
	block := make(chan struct{})
	c := collect.New(collect.Config{Sink: sinkFunc(func(ctx context.Context, b stats.Batch) ([]stats.Evicted, error) {
		<-block // a store stuck on a lock
		return nil, nil
	}), Interval: time.Hour, SDK: testSDK})
	c.Start(&fakeSource{id: "c1"}, rec("c1"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Stop(ctx, end("c1"), true); !errors.Is(err, context.Canceled) {
		t.Errorf("Stop(cancelled) = %v, want context.Canceled", err)
	}
	close(block)
	if err := c.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
}

type sinkFunc func(context.Context, stats.Batch) ([]stats.Evicted, error)

func (f sinkFunc) Write(ctx context.Context, b stats.Batch) ([]stats.Evicted, error) {
	return f(ctx, b)
}

func TestCollectorDefaults(t *testing.T) {
	c := collect.New(collect.Config{})
	defer func() { _ = c.Close() }()
	if c.Interval() != collect.DefaultInterval || collect.DefaultInterval != time.Second {
		t.Errorf("Interval() = %v, want the seed's 1s", c.Interval())
	}
	// Without a sink nothing is stored, and nothing fails.
	c.Start(&fakeSource{id: "c1"}, rec("c1"))
	if err := stop(t, c, "c1", true); err != nil {
		t.Errorf("Stop() = %v", err)
	}
}

// mediaSource is a call whose far end sends 50 packets a second and loses
// every tenth, over a 40 ms round trip.
type mediaSource struct {
	mu sync.Mutex
	n  int
}

func (s *mediaSource) ID() string { return "m" }

func (s *mediaSource) CollectStats() (stats.Report, error) {
	s.mu.Lock()
	s.n++
	n := float64(s.n)
	s.mu.Unlock()
	return stats.Report{State: "Connected", Objects: []stats.Object{
		{"id": "RI", "type": "remote-inbound-rtp", "roundTripTime": 0.040, "roundTripTimeMeasurements": n},
		{"id": "IN", "type": "inbound-rtp", "packetsReceived": 45 * n, "packetsLost": 5 * n, "jitter": 0.005},
	}}, nil
}

// The collector rates each interval against the sample before it, and
// puts the rating in the SDK entry.
func TestCollectorRatesEachInterval(t *testing.T) {
	defer test.CheckRoutines(t)()
	sink := newFakeSink()
	var mu sync.Mutex
	var entries []stats.Object
	c, _ := newTestCollector(t, sink, testInterval, func(s stats.Sample) {
		mu.Lock()
		entries = append(entries, s.Objects[0])
		mu.Unlock()
	})
	defer func() { _ = c.Close() }()
	c.Start(&mediaSource{}, rec("m"))
	sink.waitFor(t, "3 samples", func(recs []record) bool { return len(of(recs, "sample", "m")) >= 3 })
	if err := stop(t, c, "m", true); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := stats.Object{"mos": round3(stats.MOS(40, 5, 10)), "rttMs": 40.0, "jitterMs": 5.0, "intervalLossPercent": 10.0}
	for i, e := range entries {
		for k, v := range want {
			if got, ok := e.Number(k); !ok || got != v.(float64) {
				t.Errorf("sample %d: %s = %v, want %v", i, k, e[k], v)
			}
		}
	}
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
