package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/internal/testkit/natstest"
	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/app/load"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/stats/report"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		total   int
		weights []float64
		want    []int
	}{
		{10, []float64{1, 1}, []int{5, 5}},
		{10, []float64{1, 3}, []int{3, 7}}, // 2.5 and 7.5: the tie goes to the first
		{7, []float64{1, 1, 1}, []int{3, 2, 2}},
		{1, []float64{1, 1, 1}, []int{1, 0, 0}},
		{5, []float64{0, 0}, []int{3, 2}},
		{0, []float64{1}, []int{0}},
		{100, []float64{2, 4, 6, 8}, []int{10, 20, 30, 40}},
	}
	for _, tt := range tests {
		got := Split(tt.total, tt.weights)
		sum := 0
		for i := range got {
			sum += got[i]
			if got[i] != tt.want[i] {
				t.Errorf("Split(%d, %v) = %v, want %v", tt.total, tt.weights, got, tt.want)
				break
			}
		}
		if sum != tt.total {
			t.Errorf("Split(%d, %v) adds up to %d", tt.total, tt.weights, sum)
		}
	}
	sh := Shares([]Hello{{Agent: "a", Capacity: 1}, {Agent: "b", Capacity: 3}, {Agent: "c", Capacity: 0.0001}}, 8, 4, 8)
	if len(sh) != 2 || sh[0].Calls != 2 || sh[1].Calls != 6 || sh[0].Concurrency != 1 || sh[1].Concurrency != 3 ||
		sh[0].RampPerSec != 2 || sh[1].RampPerSec != 6 {
		t.Errorf("shares %+v", sh)
	}
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startAgent runs an Agent until the test ends.
func startAgent(t *testing.T, natsURL, name, version string, capacity float64, base app.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := RunAgent(ctx, AgentConfig{Conn: connect(t, natsURL), Name: name, Version: version, Capacity: capacity,
			Base: base, Timeout: 2 * time.Second, Ready: func(Hello) { close(ready) }})
		done <- err
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("agent %s: %v", name, err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent %s: %v", name, err)
		}
	})
}

// tier is a signaling server and an answerer for each id.
func tier(t *testing.T, ids ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- app.ServeSignaling(ctx, app.SignalingServer{Listener: ln, ShutdownTimeout: 2 * time.Second})
	}()
	url := "ws://" + ln.Addr().String() + "/ws"
	answered := make(chan error, len(ids))
	for _, id := range ids {
		callee := phone(t, url, t.TempDir(), id)
		callee.Decode = false
		registered := make(chan struct{})
		go func() {
			answered <- app.Answer(ctx, callee, app.AnswerConfig{Registered: func() { close(registered) }})
		}()
		select {
		case <-registered:
		case err := <-answered:
			t.Fatalf("Answer: %v", err)
		}
	}
	t.Cleanup(func() {
		cancel()
		for range ids {
			<-answered
		}
		<-served
	})
	return url
}

func phone(t *testing.T, url, dir, id string) app.Config {
	t.Helper()
	return app.Config{Identity: id, ServerURL: url, StorePath: filepath.Join(dir, "callstat.db"), Interval: 100 * time.Millisecond,
		Audio: audio.Spec{Kind: audio.KindTone, Hz: 440}, ICELoopback: true, AnswerTimeout: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
}

type counter struct {
	mu                sync.Mutex
	placed, up, ended int
	packetEntries     map[string]bool
}

func (c *counter) Placed(string)                   { c.mu.Lock(); c.placed++; c.mu.Unlock() }
func (c *counter) Connected(string, time.Duration) { c.mu.Lock(); c.up++; c.mu.Unlock() }
func (c *counter) Ended(string, bool, bool)        { c.mu.Lock(); c.ended++; c.mu.Unlock() }
func (c *counter) Packets(id string, _, _ float64) {
	c.mu.Lock()
	c.packetEntries[id] = true
	c.mu.Unlock()
}

// A run over two agents: the calls split by their capacity, each agent
// calling its own callee ({agent}), every call placed and reported, one
// result whose percentiles are those of all the calls.
func TestDistributedRun(t *testing.T) {
	defer test.TimeOut(2 * time.Minute).Stop()
	ns := natstest.Start(t, natstest.Options{})
	url := tier(t, "alice-small@example.com", "alice-big@example.com")
	startAgent(t, ns.URL, "small", "1.0.0", 1, phone(t, "", t.TempDir(), ""))
	startAgent(t, ns.URL, "big", "1.0.0", 3, phone(t, "", t.TempDir(), ""))

	caller := phone(t, url, t.TempDir(), "bob@example.com")
	spec := SpecFor(caller, load.Config{Callee: "alice-{agent}@example.com", Calls: 8, Concurrency: 4, RampPerSec: 20, Hold: 300 * time.Millisecond}, "tone:440")
	prog := &counter{packetEntries: map[string]bool{}}
	var split []Share
	out, err := Coordinate(context.Background(), CoordinatorConfig{Conn: connect(t, ns.URL), Version: "1.0.0", Agents: 2,
		DiscoverTimeout: 10 * time.Second, Spec: spec, Progress: prog, Enlisted: func(_ string, s []Share) { split = s }})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, s := range split {
		calls[s.Name] = s.Calls
	}
	if calls["small"] != 2 || calls["big"] != 6 {
		t.Errorf("split %v, want small 2, big 6 (capacity 1:3)", calls)
	}
	if out.Lost() != nil || len(out.Agents) != 2 {
		t.Fatalf("outcome %+v, lost %v", out, out.Lost())
	}
	r := out.Result
	if r.Calls != 8 || r.Placed != 8 || len(r.Results) != 8 || r.Concurrency != 4 {
		t.Fatalf("merged %+v", r)
	}
	var setups []float64
	for _, a := range out.Agents {
		if a.Err != nil || a.Result == nil || len(a.Result.Results) != a.Calls {
			t.Errorf("agent %s: %+v", a.Name, a)
		}
	}
	peers := map[string]int{}
	for _, c := range r.Results {
		peers[c.Peer]++
		if c.Err != nil || c.SetupMs == nil || c.PacketsExpected <= 0 || c.CallID != c.ID {
			t.Errorf("call %s: %+v, err %v", c.ID, c.LoadCall, c.Err)
			continue
		}
		setups = append(setups, *c.SetupMs)
	}
	if peers["alice-small@example.com"] != 2 || peers["alice-big@example.com"] != 6 {
		t.Errorf("callees %v, want each agent's own", peers)
	}
	rep := r.Report()
	if want := report.Percentile(setups, 95); rep.SetupP95Ms == nil || want == nil || *rep.SetupP95Ms != *want || rep.Connected != 8 {
		t.Errorf("report p95 %v, want %v over all calls; %+v", rep.SetupP95Ms, want, rep.LoadSummary)
	}
	prog.mu.Lock()
	if prog.placed != 8 || prog.up != 8 || prog.ended != 8 || len(prog.packetEntries) == 0 {
		t.Errorf("progress: placed %d, up %d, ended %d, packet entries %d", prog.placed, prog.up, prog.ended, len(prog.packetEntries))
	}
	prog.mu.Unlock()

	// Each agent stored its calls; summaries come back over NATS.
	sums, err := FetchSummaries(context.Background(), connect(t, ns.URL), time.Second, "bob@example.com")
	if err != nil || len(sums) != 2 {
		t.Fatalf("summaries %+v, %v", sums, err)
	}
	for _, s := range sums {
		if s.Err != nil || len(s.Rows) != min(calls[s.Agent.Name], 5) {
			t.Errorf("agent %s: %d rows, %v", s.Agent.Name, len(s.Rows), s.Err)
		}
	}
	d, err := FetchDump(context.Background(), connect(t, ns.URL), sums[0].Agent, "bob@example.com", app.FormatSeed)
	var file [][]json.RawMessage
	if err != nil || json.Unmarshal(d.Data, &file) != nil || len(file) != len(sums[0].Rows) || !strings.HasSuffix(d.Name, "_call_stats.json") {
		t.Errorf("dump %s (%d bytes, %d calls): %v", d.Name, len(d.Data), len(file), err)
	}
}

// fakeAgent answers a discovery with hello and then does what act says
// with the requests it gets.
func fakeAgent(t *testing.T, nc *nats.Conn, hello Hello, act func(*nats.Msg, Request)) {
	t.Helper()
	sub, err := nc.Subscribe(DiscoverSubject, func(m *nats.Msg) { _ = m.Respond(encode(hello)) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	sub, err = nc.Subscribe(AgentSubject+"."+hello.Agent, func(m *nats.Msg) {
		var r Request
		_ = json.Unmarshal(m.Data, &r)
		act(m, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	_ = nc.Flush()
}

// An agent of another version is refused, both versions named, and told.
func TestOtherVersionRefused(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	refused := make(chan string, 1)
	fakeAgent(t, connect(t, ns.URL), Hello{V: Version, Agent: "old-1", Name: "old", Version: "0.9.0", CPUs: 2, Idle: 1},
		func(m *nats.Msg, r Request) {
			if r.Op == OpRefuse {
				refused <- r.Message
			}
		})
	_, err := Coordinate(context.Background(), CoordinatorConfig{Conn: connect(t, ns.URL), Version: "1.0.0", Agents: 1,
		DiscoverTimeout: 1500 * time.Millisecond, Spec: Spec{Calls: 1, Concurrency: 1}})
	if !errors.Is(err, ErrAgents) || !strings.Contains(err.Error(), "0.9.0") || !strings.Contains(err.Error(), "1.0.0") {
		t.Fatalf("err = %v, want ErrAgents naming both versions", err)
	}
	select {
	case msg := <-refused:
		if !strings.Contains(msg, "0.9.0") || !strings.Contains(msg, "1.0.0") {
			t.Errorf("refusal %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Error("the agent was not told")
	}
}

// An agent that goes silent mid-run is lost: its calls count as failed
// with the reason, the other agent's run goes on. Messages on the run's
// subject that do not parse or come from another run are counted.
func TestAgentLost(t *testing.T) {
	defer test.TimeOut(time.Minute).Stop()
	ns := natstest.Start(t, natstest.Options{})
	fake := connect(t, ns.URL)
	var runID string
	var mu sync.Mutex
	started := make(chan struct{})
	okAgent := func(name string, silentAfterStart bool) func(*nats.Msg, Request) {
		return func(m *nats.Msg, r Request) {
			switch r.Op {
			case OpAssign:
				mu.Lock()
				runID = r.Run
				mu.Unlock()
				_ = m.Respond(encode(Reply{V: Version}))
				calls := r.Spec.Calls
				go func() {
					<-started
					rep := Report{V: Version, Run: r.Run, Agent: name, Calls: []Event{{ID: name + "-c1", Kind: EventPlaced}}}
					_ = fake.Publish(RunSubject+"."+r.Run, encode(rep))
					if silentAfterStart {
						return // and never another word
					}
					rep = Report{V: Version, Run: r.Run, Agent: name, Done: true,
						Calls: []Event{{ID: name + "-c1", Kind: EventEnded}}}
					_ = fake.Publish(RunSubject+"."+r.Run, encode(rep))
					_ = calls
				}()
			case OpResults:
				page := WireResult{Calls: 1, Concurrency: 1, Placed: 1, PeakRSSBytes: 1,
					Page: []WireCall{{ID: name + "-c1", Summary: report.CallSummary{CallID: name + "-c1", SetupMs: new(float64)}}}}
				_ = m.Respond(encode(Reply{V: Version, Result: &page, Total: 1}))
			default:
				_ = m.Respond(encode(Reply{V: Version}))
			}
		}
	}
	fakeAgent(t, fake, Hello{V: Version, Agent: "good", Name: "good", Version: "1.0.0", Capacity: 1}, okAgent("good", false))
	fakeAgent(t, fake, Hello{V: Version, Agent: "dies", Name: "dies", Version: "1.0.0", Capacity: 3}, okAgent("dies", true))
	// The start goes to every enlisted agent at once; the test learns it
	// the same way.
	coord := connect(t, ns.URL)
	startSub, err := fake.Subscribe(RunSubject+".*.start", func(*nats.Msg) { close(started) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = startSub.Unsubscribe() }()
	_ = fake.Flush()
	go func() {
		<-started
		mu.Lock()
		run := runID
		mu.Unlock()
		_ = fake.Publish(RunSubject+"."+run, []byte("garbage"))
		_ = fake.Publish(RunSubject+"."+run, encode(Report{V: Version, Run: "another-run", Agent: "good"}))
		_ = fake.Publish(RunSubject+"."+run, encode(Report{V: Version, Run: run, Agent: "stranger"}))
	}()
	out, err := Coordinate(context.Background(), CoordinatorConfig{Conn: coord, Version: "1.0.0", Agents: 2,
		DiscoverTimeout: 5 * time.Second, Timeout: time.Second, Spec: Spec{Calls: 4, Concurrency: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(out.Lost(), ErrAgentLost) || !strings.Contains(out.Lost().Error(), "dies") {
		t.Fatalf("lost %v, want agent dies lost", out.Lost())
	}
	r := out.Result
	if len(r.Results) != 4 { // 1 from good, the 3 of dies counted failed
		t.Fatalf("%d calls, want 4", len(r.Results))
	}
	failed, placedOne := 0, false
	for _, c := range r.Results {
		placedOne = placedOne || (c.ID == "dies-c1" && errors.Is(c.Err, ErrAgentLost))
		if errors.Is(c.Err, ErrAgentLost) {
			failed++
			if c.Reason != "agent dies lost" {
				t.Errorf("failed call reason %q", c.Reason)
			}
		}
	}
	if failed != 3 || !placedOne {
		t.Errorf("%d calls failed, want 3 (one of them the call it placed): %+v", failed, r.Results)
	}
	rep := r.Report()
	if len(rep.Failures) != 1 || rep.Failures[0].Count != 3 || rep.Failures[0].Reason != "agent dies lost" {
		t.Errorf("failures %+v", rep.Failures)
	}
	if out.Ignored != 3 {
		t.Errorf("ignored %d, want 3", out.Ignored)
	}
}
