package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of the given size (mount's syntax, e.g. "2m")
// with extra options on a new directory, unmounted when the test ends.
func mountTmpfs(t *testing.T, size string, opts ...string) string {
	t.Helper()
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o := strings.Join(append([]string{"size=" + size}, opts...), ",")
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", o, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	// Registered after TempDir's own cleanup, so it runs first. Lazy: a
	// process killed by the test's failure may still hold a file there.
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fillDisk writes to dir until it is full and returns the filler's path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// Leftovers smaller than a chunk.
	for _, n := range []int{4096, 512, 1} {
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
	return path
}

var fallbackRE = regexp.MustCompile(`are in (\S+_call_stats\.json)`)

// Item 7: the disk under the store fills mid-call. The call completes, the
// user gets a clear error (exit 11) naming a stats file in the temporary
// directory that holds every sample the store did not take: together with
// the store, nothing is lost.
func TestStoreDiskFullMidCall(t *testing.T) {
	t.Parallel()
	small := mountTmpfs(t, "4m")
	fallbackDir := t.TempDir()
	url, _ := serve(t)
	dir := t.TempDir()
	bobStore := filepath.Join(small, "bob.db")
	alice := answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"), fastClient...)
	bob := start(t, "call", []string{"TMPDIR=" + fallbackDir}, append([]string{"call", "alice@example.com", "--from", "bob@example.com"},
		clientArgs(url, bobStore)...)...)
	connected(bob)
	stored := waitSamples(t, bobStore, "bob@example.com", 5, 20*time.Second)

	filler := fillDisk(t, small)
	bob.waitLog(10*time.Second, "stats store write failed", nil)
	// Let the call go on for a while on a full disk.
	waitSamples(t, filepath.Join(dir, "alice.db"), "alice@example.com", stored+10, 20*time.Second)
	bob.signal(syscall.SIGINT)
	code := bob.wait(10 * time.Second)
	if code != 11 {
		t.Fatalf("caller exit %d on a full disk, want 11", code)
	}
	alice.waitLog(10*time.Second, "call state changed", map[string]any{"state": "Ended", "statusCode": 200})
	stderr := bob.stderrText()
	m := fallbackRE.FindStringSubmatch(stderr)
	if m == nil || !strings.Contains(stderr, `"exitCode":11`) {
		t.Fatalf("no final error naming the fallback file:\n%s", stderr)
	}
	path := m[1]
	t.Logf("caller's error line: %s", stderr[strings.LastIndex(strings.TrimSpace(stderr), "\n")+1:])
	if filepath.Dir(path) != fallbackDir {
		t.Errorf("fallback file %s, want it in the temporary directory %s (the store's disk is full)", path, fallbackDir)
	}
	calls := readStatsFile(t, path)
	if len(calls) != 1 {
		t.Fatalf("fallback file holds %d calls", len(calls))
	}
	fallback := samples(t, calls[0])

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	checkIntegrity(t, bobStore)
	inStore := dumpFile(t, bobStore, "bob@example.com")
	if len(inStore) != 1 || inStore[0].ID != calls[0].ID {
		t.Fatalf("store holds %v, fallback holds call %s", inStore, calls[0].ID)
	}
	kept := samples(t, inStore[0])
	// Every sample is in exactly one of the two, and together they cover
	// the call without a gap.
	all := append(append([][]map[string]any{}, kept...), fallback...)
	sort.SliceStable(all, func(i, j int) bool { return ts(all[i]) < ts(all[j]) })
	for i := 1; i < len(all); i++ {
		if ts(all[i]) == ts(all[i-1]) {
			t.Fatalf("sample at %v both in the store and in the fallback file", ts(all[i]))
		}
	}
	assertNoGap(t, "store + fallback", all, 200*time.Millisecond)
	if ts(fallback[0]) < ts(kept[len(kept)-1]) {
		t.Errorf("fallback starts before the store's last sample")
	}
	t.Logf("MEASURED disk full mid-call: %d samples in the store, %d in %s, none lost", len(kept), len(fallback), filepath.Base(path))
}

func ts(sample []map[string]any) float64 {
	v, _ := sample[0]["timestamp"].(float64)
	return v
}

// Item 7: a store that cannot be written from the start (a read-only file
// system: root ignores file modes) is refused before anything is dialled.
func TestStoreUnwritable(t *testing.T) {
	t.Parallel()
	ro := mountTmpfs(t, "1m", "ro")
	url, _ := serve(t)
	alice := answerer(t, url, "alice@example.com", filepath.Join(t.TempDir(), "alice.db"))
	_, stderr, code := run(t, 20*time.Second, "call", "alice@example.com", "--from", "bob@example.com",
		"--server", url, "--store", filepath.Join(ro, "bob.db"), "--ice-loopback", "--audio", "tone")
	if code != 11 || !strings.Contains(stderr, "cannot open the stats store") {
		t.Errorf("exit %d, want 11 with a clear error:\n%s", code, stderr)
	}
	if strings.Contains(alice.stderrText(), "incoming call") {
		t.Error("a call was placed although its stats could not be kept")
	}
}
