package app

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/stats"
)

func testLogger() *slog.Logger {
	if os.Getenv("CALLSTAT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testServer runs ServeSignaling on a loopback port until stop is called
// or the test ends.
func testServer(t *testing.T) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeSignaling(ctx, SignalingServer{Listener: ln, Config: signaling.ServerConfig{Logger: testLogger()}, ShutdownTimeout: 2 * time.Second})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ServeSignaling: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return "ws://" + ln.Addr().String() + "/ws", stop
}

// phoneConfig is a softphone on url sending a tone, its store in dir.
func phoneConfig(t *testing.T, url, dir, id string, hz float64) Config {
	t.Helper()
	cfg := Config{Identity: id, ServerURL: url, StorePath: filepath.Join(dir, "callstat.db"), Interval: 100 * time.Millisecond,
		SDK: SDKInfo("1.2.3-test", "00000000-0000-4000-8000-000000000000"), Audio: audio.Spec{Kind: audio.KindTone, Hz: hz},
		Decode: true, ICELoopback: true, Logger: testLogger(), StoredLogLevel: slog.LevelInfo}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// countingObserver counts what an Observer is shown.
type countingObserver struct {
	mu      sync.Mutex
	started int
	ending  int
	samples int
}

func (o *countingObserver) Hooks() call.Hooks {
	return call.Hooks{
		CallStarted: func(*call.Call) { o.mu.Lock(); o.started++; o.mu.Unlock() },
		CallEnding:  func(*call.Call) { o.mu.Lock(); o.ending++; o.mu.Unlock() },
	}
}

func (o *countingObserver) OnSample(stats.Sample) { o.mu.Lock(); o.samples++; o.mu.Unlock() }

func (o *countingObserver) OnSampleError(string, string, error) {}

func (o *countingObserver) counts() (started, ending, samples int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.started, o.ending, o.samples
}
