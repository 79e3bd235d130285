package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/store"
)

const (
	writers        = 10
	callsPerWriter = 20
	samplesPerCall = 3
	sharedRing     = "everyone" // a participant every writer adds calls to
)

// writerLoad is what one writer does: for each of callsPerWriter calls, of
// its own participant and in the shared ring, a batch that begins them, one
// of samples and one that ends them, as the collector sends them. A
// samples-only batch reads before it writes: the case that fails with
// "database is locked" unless transactions take the write lock at BEGIN.
// It returns what its writes evicted.
func writerLoad(ctx context.Context, st *store.Store, w int) ([]stats.Evicted, error) {
	own := fmt.Sprint("writer-", w)
	var evicted []stats.Evicted
	for i := range callsPerWriter {
		id := fmt.Sprintf("w%d-c%02d", w, i)
		var samples stats.Batch
		for n := range samplesPerCall {
			samples.Samples = append(samples.Samples, sample(own, id, n), sample(sharedRing, id, n))
		}
		batches := []stats.Batch{
			{Begins: []stats.CallRecord{begin(own, id), begin(sharedRing, id)}},
			samples,
			{Ends: []stats.EndRecord{
				{CallID: id, Participant: own, State: "Ended"},
				{CallID: id, Participant: sharedRing, State: "Ended"},
			}},
		}
		for _, b := range batches {
			ev, err := st.Write(ctx, b)
			if err != nil {
				return evicted, fmt.Errorf("writer %d call %d: %w", w, i, err)
			}
			evicted = append(evicted, ev...)
		}
	}
	return evicted, nil
}

// runWriters runs writers first..first+n-1 at once, spread over handles.
func runWriters(ctx context.Context, handles []*store.Store, first, n int) ([]stats.Evicted, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var evicted []stats.Evicted
	var firstErr error
	for w := first; w < first+n; w++ {
		wg.Go(func() {
			ev, err := writerLoad(ctx, handles[w%len(handles)], w)
			mu.Lock()
			defer mu.Unlock()
			evicted = append(evicted, ev...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	return evicted, firstErr
}

// checkLoad verifies that nothing the writers wrote was lost: every ring
// holds its newest calls whole, and every other call was evicted once.
func checkLoad(t *testing.T, path string, evicted []stats.Evicted) {
	t.Helper()
	ctx := context.Background()
	st := openStore(t, path)
	if err := st.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		own := fmt.Sprint("writer-", w)
		var want []string
		for i := callsPerWriter - stats.RingSize; i < callsPerWriter; i++ {
			want = append(want, fmt.Sprintf("w%d-c%02d", w, i))
		}
		if got := callIDs(t, st, own); !reflect.DeepEqual(got, want) {
			t.Errorf("%s's ring = %v, want %v", own, got, want)
		}
	}
	for _, p := range append([]string{sharedRing}, "writer-0") {
		calls, err := st.Calls(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != stats.RingSize {
			t.Errorf("%s's ring holds %d calls, want %d", p, len(calls), stats.RingSize)
		}
		for _, c := range calls {
			if c.Samples != samplesPerCall || c.End.State != "Ended" {
				t.Errorf("%s/%s: %d samples, end %q; want %d, Ended", p, c.CallID, c.Samples, c.End.State, samplesPerCall)
			}
		}
	}
	// Every call beyond the rings was evicted exactly once.
	seen := map[stats.Evicted]int{}
	for _, ev := range evicted {
		seen[ev]++
	}
	wantEvicted := writers*(callsPerWriter-stats.RingSize) + (writers*callsPerWriter - stats.RingSize)
	if len(evicted) != wantEvicted || len(seen) != wantEvicted {
		t.Errorf("%d evictions (%d distinct), want %d", len(evicted), len(seen), wantEvicted)
	}
	if n := queryInt(t, rawDB(t, path), `SELECT COUNT(*) FROM samples`); n != (writers+1)*stats.RingSize*samplesPerCall {
		t.Errorf("%d sample rows, want %d", n, (writers+1)*stats.RingSize*samplesPerCall)
	}
}

// Two handles on one file (as "callstat answer" and "callstat call" in one
// process would have) with ten writers: nothing lost, nothing locked.
func TestConcurrentHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	ctx := context.Background()
	handles := []*store.Store{openStore(t, path), openStore(t, path)}
	evicted, err := runWriters(ctx, handles, 0, writers)
	if err != nil {
		t.Fatal(err) // "database is locked" would surface here
	}
	checkLoad(t, path, evicted)
}

// Environment of the helper process TestConcurrentProcesses starts.
const (
	envHelperStore   = "CALLSTAT_STORE_TEST_HELPER_STORE"
	envHelperFirst   = "CALLSTAT_STORE_TEST_HELPER_FIRST"
	envHelperN       = "CALLSTAT_STORE_TEST_HELPER_N"
	envHelperEvicted = "CALLSTAT_STORE_TEST_HELPER_EVICTED"
)

// Two processes open a new store file at the same moment and write to it
// with five writers each, as the caller and the answerer of "callstat demo"
// do.
func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second process")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "shared.db")
	evictedFile := filepath.Join(dir, "child-evicted.json")
	half := writers / 2

	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		envHelperStore+"="+path,
		envHelperFirst+"="+strconv.Itoa(half),
		envHelperN+"="+strconv.Itoa(writers-half),
		envHelperEvicted+"="+evictedFile,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The parent opens the file while the child does: neither creates it
	// first.
	ctx := context.Background()
	st, openErr := store.Open(ctx, path)
	var evicted []stats.Evicted
	var runErr error
	if openErr == nil {
		evicted, runErr = runWriters(ctx, []*store.Store{st}, 0, half)
		_ = st.Close()
	}
	waitErr := cmd.Wait()
	if openErr != nil || runErr != nil || waitErr != nil {
		t.Fatalf("parent open: %v; parent writers: %v; child: %v\n%s", openErr, runErr, waitErr, out.Bytes())
	}
	data, err := os.ReadFile(evictedFile)
	if err != nil {
		t.Fatal(err)
	}
	var childEvicted []stats.Evicted
	if err := json.Unmarshal(data, &childEvicted); err != nil {
		t.Fatal(err)
	}
	checkLoad(t, path, append(evicted, childEvicted...))
}

// TestStoreHelperProcess is the second process of TestConcurrentProcesses.
func TestStoreHelperProcess(t *testing.T) {
	path := os.Getenv(envHelperStore)
	if path == "" {
		t.Skip("runs only as TestConcurrentProcesses' helper")
	}
	first, _ := strconv.Atoi(os.Getenv(envHelperFirst))
	n, _ := strconv.Atoi(os.Getenv(envHelperN))
	ctx := context.Background()
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	evicted, err := runWriters(ctx, []*store.Store{st}, first, n)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(evicted)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(envHelperEvicted), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
