package call

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkCollectStats is the cost of one stats sample of a connected
// call: pion's GetStats, the W3C report built from it and the
// interceptors, and the audio fields (docs/BENCHMARKS.md).
func BenchmarkCollectStats(b *testing.B) {
	url, _, stopServer := testServer(b)
	defer stopServer()
	src := testSource(b, "tone")
	defer src.Close()
	alice := newTestPhone(b, url, "alice@example.com", true, src, Hooks{})
	answering := autoAnswer(b, alice)
	bob := newTestPhone(b, url, "bob@example.com", false, src, Hooks{})
	c, err := bob.Dial(context.Background(), "alice@example.com")
	if err != nil {
		b.Fatal(err)
	}
	wait(b, c.Connected(), "Connected")
	b.ReportAllocs()
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := c.CollectStats(); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	// The median is the figure of docs/BENCHMARKS.md: a mean is moved by
	// the odd sample that the scheduler or the GC delays.
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns/sample")
	b.ReportMetric(float64(took[len(took)*95/100].Nanoseconds()), "p95-ns/sample")
	_ = bob.Close()
	_ = alice.Close()
	answering.Wait()
}
