package load

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/stats/report"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		setting app.Setting
	}{
		{name: "valid", cfg: Config{Calls: 10, Concurrency: 2, RampPerSec: 5}},
		{name: "no calls", cfg: Config{Calls: 0, Concurrency: 1}, setting: app.SettingCalls},
		{name: "no concurrency", cfg: Config{Calls: 1}, setting: app.SettingConcurrency},
		{name: "negative ramp", cfg: Config{Calls: 1, Concurrency: 1, RampPerSec: -1}, setting: app.SettingRampPerSec},
		{name: "ramp too fast", cfg: Config{Calls: 1, Concurrency: 1, RampPerSec: 2e6}, setting: app.SettingRampPerSec},
		{name: "negative hold", cfg: Config{Calls: 1, Concurrency: 1, Hold: -time.Second}, setting: app.SettingDuration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.setting == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *app.ConfigError
			if !errors.As(err, &ce) || len(ce.Settings()) != 1 || ce.Settings()[0] != tt.setting {
				t.Errorf("err = %v, want a ConfigError about %s", err, tt.setting)
			}
		})
	}
}

func ptr(v float64) *float64 { return &v }

// connected is a call of a run that connected after setupMs and ended
// normally.
func connected(id string, setupMs float64) Call {
	return Call{ID: id, LoadCall: report.LoadCall{CallSummary: report.CallSummary{CallID: id, SetupMs: ptr(setupMs), EndState: "Ended"}}}
}

// Merged runs keep every call: the report's percentiles are those of all
// the calls, not the mean of each run's.
func TestMergeKeepsEveryCall(t *testing.T) {
	a := &Result{Calls: 10, Concurrency: 5, RampPerSec: 2, Placed: 10, Elapsed: 3 * time.Second, CPU: time.Second, PeakRSSBytes: 100}
	for i := range 10 {
		a.Results = append(a.Results, connected("a", 10+float64(i))) // 10..19 ms
	}
	b := &Result{Calls: 10, Concurrency: 5, RampPerSec: 3, Placed: 10, Elapsed: 5 * time.Second, CPU: 2 * time.Second, PeakRSSBytes: 50}
	for i := range 10 {
		b.Results = append(b.Results, connected("b", 1000+float64(i))) // 1000..1009 ms
	}
	m := Merge(a, nil, b)
	if m.Calls != 20 || m.Concurrency != 10 || m.RampPerSec != 5 || m.Placed != 20 || m.Elapsed != 5*time.Second ||
		m.CPU != 3*time.Second || m.PeakRSSBytes != 100 || len(m.Results) != 20 {
		t.Fatalf("merged %+v", m)
	}
	all := make([]float64, 0, 20)
	for _, c := range m.Results {
		all = append(all, *c.SetupMs)
	}
	rep, ra, rb := m.Report(), a.Report(), b.Report()
	want := report.Percentile(all, 95)
	if rep.SetupP95Ms == nil || *rep.SetupP95Ms != *want {
		t.Errorf("merged setup p95 %v, want %v (the p95 of all the calls)", rep.SetupP95Ms, *want)
	}
	if mean := (*ra.SetupP95Ms + *rb.SetupP95Ms) / 2; *rep.SetupP95Ms == mean {
		t.Errorf("merged setup p95 %v is the mean of the runs' p95s", mean)
	}
	if rep.Placed != 20 || rep.Connected != 20 || rep.Calls != 20 {
		t.Errorf("report %+v", rep.LoadSummary)
	}
}

func TestReportFailureGroups(t *testing.T) {
	failed := func(code int, reason string) Call {
		return Call{ID: "x", Err: call.ErrRejected, LoadCall: report.LoadCall{CallSummary: report.CallSummary{StatusCode: code, Reason: reason, Error: "rejected"}}}
	}
	r := &Result{Calls: 5, Placed: 5, Results: []Call{failed(486, "Busy"), connected("ok", 10), failed(404, "Not Found"), failed(486, "Busy"),
		{ID: "rec", RecordErr: audio.ErrRecord}}}
	rep := r.Report()
	want := []FailureGroup{{Count: 2, StatusCode: 486, Reason: "Busy"}, {Count: 1, StatusCode: 404, Reason: "Not Found"}}
	if len(rep.Failures) != len(want) || rep.Failures[0] != want[0] || rep.Failures[1] != want[1] {
		t.Errorf("failures %+v, want %+v", rep.Failures, want)
	}
	if rep.Failed != 3 {
		t.Errorf("failed %d, want 3", rep.Failed)
	}
}

// progress is a Progress that counts.
type progress struct {
	mu                              sync.Mutex
	placed, connected, ended, fails int
	packets                         map[string]float64
}

func (p *progress) Placed(string) { p.mu.Lock(); p.placed++; p.mu.Unlock() }
func (p *progress) Connected(_ string, setup time.Duration) {
	p.mu.Lock()
	if setup > 0 {
		p.connected++
	}
	p.mu.Unlock()
}

func (p *progress) Ended(_ string, _, failed bool) {
	p.mu.Lock()
	p.ended++
	if failed {
		p.fails++
	}
	p.mu.Unlock()
}

func (p *progress) Packets(id string, received, _ float64) {
	p.mu.Lock()
	p.packets[id] = received
	p.mu.Unlock()
}

func testServer(t *testing.T) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.ServeSignaling(ctx, app.SignalingServer{Listener: ln, ShutdownTimeout: 2 * time.Second})
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return "ws://" + ln.Addr().String() + "/ws", stop
}

func phone(t *testing.T, url, dir, id string) app.Config {
	cfg := app.Config{Identity: id, ServerURL: url, StorePath: filepath.Join(dir, "callstat.db"), Interval: 100 * time.Millisecond,
		Audio: audio.Spec{Kind: audio.KindTone, Hz: 440}, ICELoopback: true, AnswerTimeout: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A run places every call, no more than Concurrency at a time, follows
// each to its end, and tells Progress as it goes.
func TestRun(t *testing.T) {
	defer test.TimeOut(2 * time.Minute).Stop()
	defer test.CheckRoutines(t)()
	url, stopServer := testServer(t)
	defer stopServer()
	dir := t.TempDir()
	answerCtx, stopAnswering := context.WithCancel(context.Background())
	registered := make(chan struct{})
	answerDone := make(chan error, 1)
	callee := phone(t, url, dir, "alice@example.com")
	go func() {
		answerDone <- app.Answer(answerCtx, callee, app.AnswerConfig{Registered: func() { close(registered) }})
	}()
	defer func() {
		stopAnswering()
		if err := <-answerDone; err != nil {
			t.Errorf("Answer: %v", err)
		}
	}()
	select {
	case <-registered:
	case err := <-answerDone:
		t.Fatalf("Answer: %v", err)
	}

	// The caller's calls in progress: from placed to ended.
	var mu sync.Mutex
	inProgress, most := 0, 0
	caller := phone(t, url, dir, "bob@example.com")
	caller.Hooks = call.Hooks{
		CallStarted: func(*call.Call) { mu.Lock(); inProgress++; most = max(most, inProgress); mu.Unlock() },
		CallEnding:  func(*call.Call) { mu.Lock(); inProgress--; mu.Unlock() },
	}
	p := &progress{packets: map[string]float64{}}
	res, err := Run(context.Background(), caller,
		Config{Callee: "alice@example.com", Calls: 4, Concurrency: 2, RampPerSec: 20, Hold: 300 * time.Millisecond, Progress: p})
	if err != nil {
		t.Fatal(err)
	}
	if res.Placed != 4 || len(res.Results) != 4 || res.Calls != 4 || res.Concurrency != 2 {
		t.Fatalf("result %+v", res)
	}
	for _, c := range res.Results {
		if c.Err != nil || c.RecordErr != nil || c.SetupMs == nil || c.PacketsExpected <= 0 || c.CallID != c.ID {
			t.Errorf("call %s: %+v", c.ID, c)
		}
	}
	rep := res.Report()
	if rep.Placed != 4 || rep.Connected != 4 || rep.Failed != 0 || len(rep.Failures) != 0 || rep.SetupP95Ms == nil {
		t.Errorf("report %+v", rep)
	}
	p.mu.Lock()
	if p.placed != 4 || p.connected != 4 || p.ended != 4 || p.fails != 0 || len(p.packets) == 0 {
		t.Errorf("progress: placed %d, connected %d, ended %d, failed %d, calls with packets %d", p.placed, p.connected, p.ended, p.fails, len(p.packets))
	}
	p.mu.Unlock()
	mu.Lock()
	if most != 2 {
		t.Errorf("at most %d calls in progress at once, want 2", most)
	}
	mu.Unlock()
}

// Calls that fail are counted and grouped; a cancelled run says how many
// it placed.
func TestRunFailures(t *testing.T) {
	defer test.TimeOut(time.Minute).Stop()
	url, _ := testServer(t)
	dir := t.TempDir()
	res, err := Run(context.Background(), phone(t, url, dir, "bob@example.com"), Config{Callee: "nobody@example.com", Calls: 3, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Results {
		if !errors.Is(c.Err, call.ErrCalleeNotFound) {
			t.Errorf("call %s: %v, want ErrCalleeNotFound", c.ID, c.Err)
		}
	}
	rep := res.Report()
	if rep.Placed != 3 || rep.Failed != 3 || len(rep.Failures) != 1 || rep.Failures[0].Count != 3 || rep.Failures[0].StatusCode == 0 {
		t.Errorf("report %+v, failures %+v", rep.LoadSummary, rep.Failures)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err = Run(ctx, phone(t, url, dir, "bob@example.com"), Config{Callee: "nobody@example.com", Calls: 3, Concurrency: 1})
	if err == nil && (res.Placed != 0 || len(res.Results) != 0) {
		t.Errorf("a cancelled run placed %d calls", res.Placed)
	}
}
