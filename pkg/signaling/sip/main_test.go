package sip_test

import (
	"log/slog"
	"os"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/signaling/sip"
)

// TestMain shortens sipgo's transaction timers, which are package
// variables: with T1 = 100 ms, Timer B (no response to an INVITE), Timer F
// (to any other request), Timer H and L (no ACK) and the 2xx
// retransmissions until an ACK all last 64*T1 = 6.4 s instead of 32 s, so
// that the tests of those paths run in CI. Nothing else runs in between:
// the servers in these tests answer on loopback in milliseconds.
func TestMain(m *testing.M) {
	gosip.SetTimers(100*time.Millisecond, 400*time.Millisecond, 500*time.Millisecond)
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("CALLSTAT_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	sip.RouteSipgoLogs(logger)
	os.Exit(m.Run())
}

// checkRoutines fails the test when a goroutine started during it
// outlives it. Registered first, it runs after every other cleanup
// (servers, agents, audio sources).
func checkRoutines(t *testing.T) {
	t.Helper()
	t.Cleanup(test.CheckRoutines(t))
}
