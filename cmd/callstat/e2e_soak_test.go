package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/signaling"
)

// soakCalls is how many calls TestSoak places: a short run in CI, 1,000
// with `make soak` (CALLSTAT_SOAK_CALLS).
func soakCalls(t *testing.T) int {
	t.Helper()
	v := os.Getenv("CALLSTAT_SOAK_CALLS")
	if v == "" {
		return 50
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 10 {
		t.Fatalf("CALLSTAT_SOAK_CALLS=%q: want a number of calls, at least 10", v)
	}
	return n
}

type resources struct{ goroutines, fds, rss float64 }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// Item 5: many short calls in a row through one answerer process. Its
// goroutines, open files and memory stay flat, every call ends cleanly,
// and its ring holds exactly the last five.
func TestSoak(t *testing.T) {
	t.Parallel()
	n := soakCalls(t)
	url, _ := serve(t)
	dir := t.TempDir()
	aliceStore, bobStore := filepath.Join(dir, "alice.db"), filepath.Join(dir, "bob.db")
	alice := answerer(t, url, "alice@example.com", aliceStore, "--interval", "100ms")

	ids := make([]string, 0, n)
	started := time.Now()
	for i := range n {
		stdout, stderr, code := run(t, 30*time.Second, "call", "alice@example.com", "--from", "bob@example.com",
			"--server", url, "--store", bobStore, "--ice-loopback", "--audio", "tone", "--interval", "100ms", "--duration", "100ms")
		if code != 0 {
			t.Fatalf("call %d of %d: exit %d\n%s", i+1, n, code, stderr)
		}
		ids = append(ids, strings.TrimSpace(stdout))
		// The answerer has finished with this call before the next one.
		alice.waitCount(20*time.Second, "process resources", nil, i+1)
	}
	elapsed := time.Since(started)

	// One figure per call, in order, taken after its teardown.
	var rs []resources
	lines := alice.Lines()
	for _, l := range lines {
		if l["msg"] == "process resources" {
			rs = append(rs, resources{l["goroutines"].(float64), l["openFDs"].(float64), l["rssBytes"].(float64)})
		}
	}
	ended := 0
	for _, l := range lines {
		if l["msg"] == "call state changed" && l["state"] == "Ended" {
			ended++
			if fmt.Sprint(l["statusCode"]) != "200" {
				t.Errorf("call %v ended with %v %v, want a clean 200", l["call"], l["statusCode"], l["reason"])
			}
		}
	}
	if len(rs) != n || ended != n {
		t.Fatalf("answerer logged %d resource lines and %d ends for %d calls", len(rs), ended, n)
	}

	// First and last windows: the first hundred and last hundred of a
	// 1,000-call soak; a tenth (at least 10) of a shorter one.
	w := max(10, n/10)
	window := func(part []resources) (g, f, r []float64) {
		for _, x := range part {
			g, f, r = append(g, x.goroutines), append(f, x.fds), append(r, x.rss/(1<<20))
		}
		return g, f, r
	}
	g1, f1, r1 := window(rs[:w])
	g2, f2, r2 := window(rs[n-w:])
	t.Logf("MEASURED soak of %d calls in %s (%.0f ms a call): first %d calls: goroutines %.0f (max %.0f), fds %.0f (max %.0f), RSS %.1f MiB (max %.1f); last %d: goroutines %.0f (max %.0f), fds %.0f (max %.0f), RSS %.1f MiB (max %.1f)",
		n, elapsed.Round(time.Second), float64(elapsed.Milliseconds())/float64(n),
		w, median(g1), slices.Max(g1), median(f1), slices.Max(f1), median(r1), slices.Max(r1),
		w, median(g2), slices.Max(g2), median(f2), slices.Max(f2), median(r2), slices.Max(r2))
	if median(g2) > median(g1)+5 {
		t.Errorf("goroutines grew from %.0f to %.0f over %d calls", median(g1), median(g2), n)
	}
	if median(f2) > median(f1)+3 {
		t.Errorf("open files grew from %.0f to %.0f over %d calls", median(f1), median(f2), n)
	}
	if median(r2) > median(r1)*1.5+8 {
		t.Errorf("RSS grew from %.1f to %.1f MiB over %d calls", median(r1), median(r2), n)
	}

	// Exactly the last five, all ended cleanly.
	ring := storedCalls(t, aliceStore, "alice@example.com")
	var got []string
	for _, c := range ring {
		got = append(got, c.CallID)
		if c.End.State != "Ended" || c.End.StatusCode != signaling.StatusNormal || c.Samples == 0 {
			t.Errorf("ring call %s: %+v", c.CallID, c.End)
		}
	}
	if want := ids[n-5:]; !slices.Equal(got, want) {
		t.Errorf("answerer's ring holds %v, want the last five %v", got, want)
	}
	checkIntegrity(t, aliceStore)
}
