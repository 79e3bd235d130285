package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// loadSummary finds the "load summary" JSON line of a load run's stderr.
func loadSummary(t *testing.T, stderr string) map[string]any {
	t.Helper()
	for line := range strings.SplitSeq(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "load summary" {
			s, ok := m["summary"].(map[string]any)
			if !ok {
				t.Fatalf("load summary without a summary object: %s", line)
			}
			return s
		}
	}
	t.Fatalf("no load summary line in stderr:\n%s", stderr)
	return nil
}

func num(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	v, ok := m[key].(float64)
	if !ok {
		t.Fatalf("%s = %v (%T), want a number; summary %v", key, m[key], m[key], m)
	}
	return v
}

// Load mode places every call, at most --concurrency at a time, through one
// answer process, and its summary counts them; every call id is printed.
func TestLoadMode(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"), "--decode=false")

	stdout, stderr, code := run(t, 2*time.Minute, "--log-format", "json", "call", "alice@example.com", "--from", "bob@example.com",
		"--server", url, "--store", filepath.Join(dir, "bob.db"), "--ice-loopback", "--audio", "tone",
		"--calls", "20", "--concurrency", "5", "--duration", "1s", "--interval", "250ms")
	if code != 0 {
		t.Fatalf("load run exit %d, want 0; stderr:\n%s", code, stderr)
	}
	ids := strings.Fields(stdout)
	seen := map[string]bool{}
	for _, id := range ids {
		if _, err := uuid.Parse(id); err != nil || seen[id] {
			t.Errorf("stdout line %q: want distinct call ids", id)
		}
		seen[id] = true
	}
	if len(ids) != 20 {
		t.Errorf("%d call ids on stdout, want 20", len(ids))
	}
	s := loadSummary(t, stderr)
	for key, want := range map[string]float64{"calls": 20, "placed": 20, "connected": 20, "failed": 0, "concurrency": 5} {
		if got := num(t, s, key); got != want {
			t.Errorf("summary %s = %v, want %v", key, got, want)
		}
	}
	if p50, p95 := num(t, s, "setupP50Ms"), num(t, s, "setupP95Ms"); p50 <= 0 || p95 < p50 {
		t.Errorf("setup p50 %v ms, p95 %v ms", p50, p95)
	}
	// Audio both ways, measured against real time: 50 packets a second
	// for each connected second.
	if exp, sent, recv := num(t, s, "packetsExpected"), num(t, s, "packetsSent"), num(t, s, "packetsReceived"); exp < 20*40 || sent < exp/2 || recv < exp/2 {
		t.Errorf("packets expected %v, sent %v, received %v", exp, sent, recv)
	}
	if mos := num(t, s, "mosMin"); mos < 1 || mos > 5 {
		t.Errorf("mos min %v", mos)
	}
	if num(t, s, "cpuSeconds") <= 0 || num(t, s, "peakRssBytes") <= 0 {
		t.Errorf("process figures missing: %v", s)
	}
	// Each call was stored as usual: the ring holds the last five.
	if calls := storedCalls(t, filepath.Join(dir, "bob.db"), "bob@example.com"); len(calls) != 5 {
		t.Errorf("caller's ring holds %d calls, want 5", len(calls))
	} else {
		for _, c := range calls {
			if !seen[c.CallID] || c.End.State != "Ended" || c.Samples == 0 {
				t.Errorf("stored call %s: end %q, %d samples", c.CallID, c.End.State, c.Samples)
			}
		}
	}

	// --assert applies to the run as a whole: a breach exits 13, naming all
	// calls.
	_, stderr, code = run(t, time.Minute, "call", "alice@example.com", "--from", "bob@example.com",
		"--server", url, "--store", filepath.Join(dir, "bob.db"), "--ice-loopback", "--audio", "tone",
		"--calls", "2", "--duration", "300ms", "--assert", "setup<0.001ms")
	if code != 13 || !strings.Contains(stderr, "assertion failed: all calls: setup is ") {
		t.Errorf("breached --assert: exit %d, want 13; stderr:\n%s", code, stderr)
	}
}

// Calls to an unknown callee all fail: each is counted, and the run exits
// with their code (4).
func TestLoadModeFailures(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	_, stderr, code := run(t, time.Minute, "--log-format", "json", "call", "nobody@example.com", "--from", "bob@example.com",
		"--server", url, "--store", filepath.Join(dir, "bob.db"), "--ice-loopback", "--audio", "tone",
		"--calls", "6", "--concurrency", "3")
	if code != 4 {
		t.Fatalf("exit %d, want 4 (callee unknown); stderr:\n%s", code, stderr)
	}
	s := loadSummary(t, stderr)
	if num(t, s, "placed") != 6 || num(t, s, "failed") != 6 || num(t, s, "connected") != 0 {
		t.Errorf("summary %v, want 6 placed, 6 failed, none connected", s)
	}
	failures, _ := s["failures"].([]any)
	if len(failures) != 1 {
		t.Fatalf("failures %v, want one group", s["failures"])
	}
	g := failures[0].(map[string]any)
	if g["count"] != 6.0 || g["statusCode"] != 404.0 {
		t.Errorf("failure group %v, want 6 × 404", g)
	}
	if !strings.Contains(stderr, "6 of 6 calls failed") {
		t.Errorf("final error does not count the failures:\n%s", stderr)
	}
}
