package collect_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/stats/collect"
	"github.com/callstat/callstat/pkg/stats/format"
)

// A store that fails for a while and recovers gets every sample, in order,
// with nothing written anywhere else.
func TestCollectorRetriesWhenTheStoreRecovers(t *testing.T) {
	defer test.CheckRoutines(t)()
	sink := newFakeSink()
	c, logs := newTestCollector(t, sink, testInterval, nil)
	sink.setErr(errSinkDown)
	c.Start(&fakeSource{id: "c1"}, rec("c1"))
	deadline := time.Now().Add(10 * time.Second)
	for len(logs.find("stats store write failed")) == 0 || len(logs.find("stats store write failed again")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the collector did not retry the failing store")
		}
		time.Sleep(testInterval) // polling a log, not synchronising
	}
	sink.setErr(nil)
	sink.waitFor(t, "the kept samples", func(recs []record) bool { return len(of(recs, "sample", "c1")) >= 3 })
	if err := stop(t, c, "c1", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close() = %v after the store recovered", err)
	}
	recs := sink.records()
	if len(of(recs, "begin", "c1")) != 1 || len(of(recs, "end", "c1")) != 1 {
		t.Errorf("begin/end not stored once each: %v", recs)
	}
	for i, r := range of(recs, "sample", "c1") {
		if r.seq != i {
			t.Fatalf("sample %d stored with seq %d: a sample was lost or reordered", i, r.seq)
		}
	}
	if len(logs.find("stats store writable again; every kept sample is stored")) != 1 {
		t.Error("recovery not logged")
	}
	if len(c.FallbackFiles()) != 0 {
		t.Errorf("fallback files %v although the store took everything", c.FallbackFiles())
	}
}

// A store that never recovers: at Close every sample goes to a stats file
// in the first fallback directory that works, and the error names it.
func TestCollectorWritesAFallbackFile(t *testing.T) {
	defer test.CheckRoutines(t)()
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "fallback")
	sink := newFakeSink()
	sink.setErr(errSinkDown)
	c := collect.New(collect.Config{Sink: sink, Interval: testInterval, SDK: testSDK,
		Logger: slog.New(&logRecorder{}), FallbackDirs: []string{notADir, good}})
	src := &fakeSource{id: "c1"}
	c.Start(src, rec("c1"))
	deadline := time.Now().Add(10 * time.Second)
	for src.Calls() < 4 {
		if time.Now().After(deadline) {
			t.Fatal("no samples taken")
		}
		time.Sleep(testInterval) // polling a counter, not synchronising
	}
	_ = stop(t, c, "c1", true)
	err := c.Close()
	if !errors.Is(err, collect.ErrNotStored) || !errors.Is(err, errSinkDown) {
		t.Fatalf("Close() = %v, want ErrStatsNotStored wrapping the store's error", err)
	}
	files := c.FallbackFiles()
	if len(files) != 1 || filepath.Dir(files[0]) != good || !strings.Contains(err.Error(), files[0]) {
		t.Fatalf("fallback files %v (error %q), want one in %s named in the error", files, err, good)
	}
	if !strings.HasSuffix(files[0], "_sdk"+testSDK.Version+"_call_stats.json") {
		t.Errorf("fallback file %s is not named like a stats file", files[0])
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	calls, err := format.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0].CallID != "c1" {
		t.Fatalf("fallback holds %v, want call c1", calls)
	}
	// Every sample taken, the final one included, and nothing else.
	if got, want := len(calls[0].Samples()), src.Calls(); got != want {
		t.Errorf("fallback holds %d samples, the call was sampled %d times", got, want)
	}
}

// Too many refused samples are written out early rather than kept in
// memory; with no directory to write to they are reported lost.
func TestCollectorFallbackBounds(t *testing.T) {
	defer test.CheckRoutines(t)()
	t.Run("spills early", func(t *testing.T) {
		dir := t.TempDir()
		sink := newFakeSink()
		sink.setErr(errSinkDown)
		c := collect.New(collect.Config{Sink: sink, Interval: testInterval, SDK: testSDK,
			FallbackDirs: []string{dir}, MaxPending: 3})
		src := &fakeSource{id: "c1"}
		c.Start(src, rec("c1"))
		deadline := time.Now().Add(10 * time.Second)
		for {
			entries, _ := os.ReadDir(dir)
			if len(entries) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("nothing spilled with more than MaxPending samples kept")
			}
			time.Sleep(testInterval) // polling a directory, not synchronising
		}
		_ = stop(t, c, "c1", true)
		if err := c.Close(); !errors.Is(err, collect.ErrNotStored) {
			t.Fatalf("Close() = %v", err)
		}
		total := 0
		for _, path := range c.FallbackFiles() {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			calls, err := format.ReadFile(f)
			_ = f.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, fc := range calls {
				total += len(fc.Samples())
			}
		}
		if len(c.FallbackFiles()) < 2 || total != src.Calls() {
			t.Errorf("%d files hold %d samples, want at least 2 files and all %d", len(c.FallbackFiles()), total, src.Calls())
		}
	})
	t.Run("nowhere to write", func(t *testing.T) {
		sink := newFakeSink()
		sink.setErr(errSinkDown)
		c := collect.New(collect.Config{Sink: sink, Interval: time.Hour, SDK: testSDK})
		c.Start(&fakeSource{id: "c1"}, rec("c1"))
		_ = stop(t, c, "c1", true)
		if err := c.Close(); !errors.Is(err, collect.ErrNotStored) || !strings.Contains(err.Error(), "1 samples lost") {
			t.Errorf("Close() = %v, want the lost samples counted", err)
		}
	})
}
