package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// --network puts conditions on a process's own packets, without root: a
// caller with 60 ms of delay each way and 10 % loss on what it sends sees
// a round trip of about 120 ms, and the answerer, whose own packets go
// untouched, loses about a tenth of the caller's. Both figures come from
// the stats each side stored, read back through `summary --json`.
func TestNetworkFlag(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	aliceStore, bobStore := filepath.Join(dir, "alice.db"), filepath.Join(dir, "bob.db")
	answerer(t, url, "alice-net@example.com", aliceStore)

	_, stderr, code := run(t, 40*time.Second, "call", "alice-net@example.com", "--from", "bob-net@example.com",
		"--server", url, "--store", bobStore, "--ice-loopback", "--audio", "tone", "--duration", "6s",
		"--network", "delay=60ms,up.loss=10%,seed=7")
	if code != 0 {
		t.Fatalf("call --network exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "network conditions on this phone's packets") {
		t.Errorf("the caller does not say it put conditions on its packets:\n%s", stderr)
	}
	bob := summaryRow(t, bobStore, "bob-net@example.com")
	if rtt, _ := bob["rttP50Ms"].(float64); rtt < 110 || rtt > 170 {
		t.Errorf("caller's RTT p50 %v ms under 60 ms each way, want about 120", bob["rttP50Ms"])
	}
	alice := summaryRow(t, aliceStore, "alice-net@example.com")
	if loss, _ := alice["lossPercent"].(float64); loss < 5 || loss > 16 {
		t.Errorf("answerer's loss %v %% of what a caller with up.loss=10%% sent, want about 10", alice["lossPercent"])
	}
	if loss, _ := bob["lossPercent"].(float64); loss > 2 {
		t.Errorf("caller's loss %v %% with no loss on what it receives, want about 0", bob["lossPercent"])
	}

	// A bad value is a usage error naming the flag and the part at fault,
	// before anything is dialled.
	_, stderr, code = run(t, 10*time.Second, "answer", "--as", "carol-net@example.com", "--server", url,
		"--store", filepath.Join(dir, "carol.db"), "--audio", "tone", "--network", "3g,loss=5")
	if code != 2 || !strings.Contains(stderr, "invalid --network") || !strings.Contains(stderr, "loss=5") {
		t.Errorf("answer --network 3g,loss=5: exit %d, stderr:\n%s", code, stderr)
	}
}

// summaryRow is the only call of participant in store, as summary --json
// shows it.
func summaryRow(t *testing.T, store, participant string) map[string]any {
	t.Helper()
	out, errOut, code := run(t, 20*time.Second, "summary", "--store", store, "-p", participant, "--json")
	if code != 0 {
		t.Fatalf("summary exit %d: %s", code, errOut)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("summary --json of %s: %v\n%s", participant, err, out)
	}
	return rows[0]
}
