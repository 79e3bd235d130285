package store_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/testdata"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/format"
	"github.com/callstat/callstat/pkg/stats/store"
)

// fixture is a real call's samples (callstat demo: a tone each way, audio
// decoded), eleven seconds of them.
func fixture(tb testing.TB) string { return testdata.Path(tb, "stats", "call-11s.json") }

var (
	fixtureOnce    sync.Once
	fixtureSamples [][]stats.Object
	fixtureErr     error
)

func loadFixture(tb testing.TB) [][]stats.Object {
	tb.Helper()
	fixtureOnce.Do(func() {
		f, err := os.Open(fixture(tb))
		if err != nil {
			fixtureErr = err
			return
		}
		defer func() { _ = f.Close() }()
		calls, err := format.ReadFile(f)
		if err != nil {
			fixtureErr = err
			return
		}
		fixtureSamples = calls[0].Samples()
	})
	if fixtureErr != nil {
		tb.Fatal(fixtureErr)
	}
	return fixtureSamples
}

// cumulative says whether a field only grows during a call: counters,
// totals and times.
func cumulative(field string) bool {
	f := strings.ToLower(field)
	for _, s := range []string{"timestamp", "packets", "bytes", "total", "requests", "responses", "consent",
		"reports", "concealed", "concealment", "samplesreceived", "nack", "measurements"} {
		if strings.Contains(f, s) {
			return true
		}
	}
	return false
}

// realSample is sample k of a call made from the fixture, as long as
// asked: the fixture's first ten seconds over and over, each turn with its
// counters and times moved on by what one turn adds, so that every second
// changes what a real call's second changes.
func realSample(tb testing.TB, participant, callID string, k int) stats.Sample {
	fx := loadFixture(tb)
	period := len(fx) - 1
	src, first, last := fx[k%period], fx[0], fx[period]
	turns := float64(k / period)
	objs := make([]stats.Object, len(src))
	for i, o := range src {
		c := maps.Clone(o)
		for field, v := range o {
			x, ok := v.(float64)
			if !ok || !cumulative(field) || i >= len(first) || i >= len(last) {
				continue
			}
			a, ok1 := first[i].Number(field)
			b, ok2 := last[i].Number(field)
			if ok1 && ok2 && b >= a {
				c[field] = x + turns*(b-a)
			}
		}
		objs[i] = c
	}
	objs[0]["callId"] = callID
	return stats.Sample{CallID: callID, Participant: participant, Seq: k, Time: t0.Add(time.Duration(k) * time.Second), Objects: objs}
}

// fileSize is the store's size on disk, its write-ahead log checkpointed.
func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		tb.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// BenchmarkStoreWrite is the cost of storing samples as a process does:
// one transaction a second with a sample of each of 100 calls. It reports
// the time per sample and how much the file grows per call and hour
// (run it for at least 600 batches: ten minutes of samples, ten
// keyframes a call).
func BenchmarkStoreWrite(b *testing.B) {
	const calls = 100
	path := filepath.Join(b.TempDir(), "bench.db")
	st, err := store.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	var begins []stats.CallRecord
	for c := range calls {
		begins = append(begins, stats.CallRecord{CallID: fmt.Sprintf("call-%03d", c), Participant: fmt.Sprintf("p%03d", c),
			Direction: "outgoing", Peer: "alice", StartedAt: t0, SDKVersion: "bench"})
	}
	if _, err := st.Write(context.Background(), stats.Batch{Begins: begins}); err != nil {
		b.Fatal(err)
	}
	base := fileSize(b, path)
	batches := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		var batch stats.Batch
		for _, r := range begins {
			batch.Samples = append(batch.Samples, realSample(b, r.Participant, r.CallID, batches))
		}
		b.StartTimer()
		if _, err := st.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		batches++
	}
	b.StopTimer()
	samples := float64(batches * calls)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/samples, "ns/sample")
	grown := float64(fileSize(b, path) - base)
	b.ReportMetric(grown/samples, "bytes/sample")
	b.ReportMetric(grown/samples*3600/1e6, "MB/call-hour")
}

// buildRing stores five calls of an hour each, their samples interleaved
// as five concurrent calls write them.
func buildRing(tb testing.TB, path string) {
	tb.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	var b stats.Batch
	for c := range stats.RingSize {
		b.Begins = append(b.Begins, begin("bob", fmt.Sprintf("call-%d", c)))
	}
	if _, err := st.Write(context.Background(), b); err != nil {
		tb.Fatal(err)
	}
	for k := range 3600 {
		var batch stats.Batch
		for _, r := range b.Begins {
			batch.Samples = append(batch.Samples, realSample(tb, r.Participant, r.CallID, k))
		}
		if _, err := st.Write(context.Background(), batch); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkDump writes a full ring of five one-hour calls as the seed's
// stats file, as callstat dump does (through a 256 KiB buffer to a file),
// reporting the peak of the heap while it runs: the dump streams, one
// sample of one call in memory at a time.
func BenchmarkDump(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "ring.db")
	buildRing(b, path)
	st, err := store.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	out, err := os.Create(filepath.Join(dir, "dump.json"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = out.Close() }()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak, stop := watchHeap()
	var size int64
	for b.Loop() {
		if _, err := out.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		cw := &countingWriter{w: out}
		bw := bufio.NewWriterSize(cw, 256<<10)
		if _, err := st.WriteSeedJSON(context.Background(), bw, "bob"); err != nil {
			b.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		size = cw.n
	}
	b.StopTimer()
	stop()
	b.ReportMetric(float64(size)/1e6, "MB-written")
	b.ReportMetric(float64(*peak-before.HeapInuse)/1e6, "peak-heap-MB")
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// watchHeap samples the heap in use every few milliseconds until stop.
func watchHeap() (peak *uint64, stop func()) {
	var max uint64
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-t.C:
				runtime.ReadMemStats(&m)
				max = maxU(max, m.HeapInuse)
			case <-done:
				return
			}
		}
	}()
	return &max, func() { close(done); <-stopped }
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
