package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/netlab"
	"github.com/callstat/callstat/pkg/signaling"
)

// netPair is the lab of the ground-truth tests (two network namespaces
// joined by one link, made for one test and removed at its end, also when
// it fails) with the link's condition changed mid-call. The caller and the
// server run in a, the answerer in b: the media crosses the link, the
// only way between them.
type netPair struct {
	t            *testing.T
	lab          *netlab.Lab
	a, b         string // namespace names
	addrA, addrB string
}

func newNetPair(t *testing.T) *netPair {
	t.Helper()
	requireRoot(t)
	lab, err := netlab.New(context.Background(), netlab.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("removing the lab: %v", err)
		}
	})
	return &netPair{t: t, lab: lab, a: lab.NSA, b: lab.NSB, addrA: lab.AddrA, addrB: lab.AddrB}
}

// loss drops that percentage of the packets crossing the link in each
// direction from now on; 100 is a partition, 0 the recovery.
func (np *netPair) loss(percent int) {
	np.t.Helper()
	if err := np.lab.SetCondition(context.Background(), netlab.Condition{Loss: float64(percent)}); err != nil {
		np.t.Fatal(err)
	}
}

// intervalLoss is the fraction of the far end's packets lost in each
// interval, from the cumulative inbound-rtp counters of consecutive
// samples (index i: between samples i-1 and i; -1 when nothing arrived or
// was lost).
func intervalLoss(ss [][]map[string]any) []float64 {
	out := make([]float64, len(ss))
	var prevLost, prevRecv float64
	for i, s := range ss {
		lost, _ := field(s, "inbound-rtp", "packetsLost")
		recv, _ := field(s, "inbound-rtp", "packetsReceived")
		out[i] = -1
		// Late packets can lower the cumulative loss (RFC 3550): clamp.
		if d := (lost - prevLost) + (recv - prevRecv); i > 0 && d > 0 {
			out[i] = min(max((lost-prevLost)/d, 0), 1)
		}
		prevLost, prevRecv = lost, recv
	}
	return out
}

// mediaOverVeth checks that a sample's selected pair uses the veth's
// addresses, not loopback.
func mediaOverVeth(t *testing.T, who string, s []map[string]any, local string) {
	t.Helper()
	var pairLocal string
	for _, o := range s {
		if o["type"] == "candidate-pair" && o["nominated"] == true {
			pairLocal, _ = o["localCandidateId"].(string)
		}
	}
	for _, o := range s {
		if o["type"] == "local-candidate" && o["id"] == pairLocal {
			if o["ip"] != local {
				t.Errorf("%s's media uses %v, want the veth address %s", who, o["ip"], local)
			}
			return
		}
	}
	t.Errorf("%s: no nominated candidate pair in the sample", who)
}

// Item 4: bad networks between the parties, on a link made by the test
// (veth + netem, or netlab's userspace link where the kernel has no
// netem). 30 % loss for 5 s mid-call, then recovery: the call survives and
// the stored samples show the burst. Then a partition longer than the ICE
// failure timeout: both sides end with a media failure, stats kept.
func TestBadNetwork(t *testing.T) {
	t.Parallel()
	np := newNetPair(t)
	dir := t.TempDir()
	aliceStore, bobStore := filepath.Join(dir, "alice.db"), filepath.Join(dir, "bob.db")
	// The partition cuts the answerer off from the server too; a keepalive
	// longer than the ICE timeouts keeps the server from ending the call
	// (480) before the media failure does.
	srv := startIn(t, "serve", np.a, nil, "serve", "--listen", np.addrA+":0", "--ping-interval", "20s")
	url := srv.waitLog(10*time.Second, "signaling server listening", nil)["ws"].(string)
	ice, label, bound := iceTimeouts()
	ice = append(ice, "--interval", "500ms", "--audio", "tone")
	alice := startIn(t, "answer", np.b, nil, append([]string{"answer", "--as", "alice@example.com", "--server", url, "--store", aliceStore}, ice...)...)
	alice.waitLog(10*time.Second, "registered", nil)

	t.Run("30% loss for 5 s", func(t *testing.T) {
		bob := startIn(t, "call", np.a, nil, append([]string{"call", "alice@example.com", "--from", "bob@example.com", "--server", url, "--store", bobStore}, ice...)...)
		connected(bob)
		before := waitSamples(t, bobStore, "bob@example.com", 4, 20*time.Second)
		np.loss(30)
		time.Sleep(5 * time.Second) // the burst's length is the scenario, not a wait for something
		np.loss(0)
		waitSamples(t, bobStore, "bob@example.com", before+10+4, 30*time.Second)
		bob.signal(syscall.SIGINT)
		if code := bob.wait(10 * time.Second); code != 0 {
			t.Fatalf("caller exit %d: the call did not survive the loss", code)
		}
		alice.waitCount(10*time.Second, "call state changed", map[string]any{"state": "Ended", "statusCode": 200}, 1)
		for _, side := range []struct{ store, who, addr string }{{bobStore, "bob@example.com", np.addrA}, {aliceStore, "alice@example.com", np.addrB}} {
			calls := dumpFile(t, side.store, side.who)
			ss := samples(t, calls[len(calls)-1])
			mediaOverVeth(t, side.who, ss[1], side.addr)
			loss := intervalLoss(ss)
			var worst float64
			for _, l := range loss {
				worst = max(worst, l)
			}
			var series []string
			for _, l := range loss[1:] {
				series = append(series, fmt.Sprintf("%.0f%%", 100*l))
			}
			t.Logf("MEASURED 30%% loss burst, %s per-interval (500 ms) loss: %s", side.who, strings.Join(series, " "))
			if worst < 0.10 {
				t.Errorf("%s: worst interval lost %.0f%%; the 30%% burst does not show", side.who, 100*worst)
			}
			for i := 1; i < 3 && i < len(loss); i++ {
				if loss[i] > 0.02 {
					t.Errorf("%s: %.0f%% loss in interval %d, before the burst", side.who, 100*loss[i], i)
				}
			}
			if last := loss[len(loss)-2]; last > 0.02 { // the last whole interval, after recovery
				t.Errorf("%s: %.0f%% loss after the recovery", side.who, 100*last)
			}
		}
	})

	t.Run("partition longer than the ICE failure timeout", func(t *testing.T) {
		bob := startIn(t, "call", np.a, nil, append([]string{"call", "alice@example.com", "--from", "bob@example.com", "--server", url, "--store", bobStore}, ice...)...)
		connected(bob)
		alice.waitCount(20*time.Second, "call state changed", map[string]any{"state": "Connected"}, 2)
		waitSamples(t, bobStore, "bob@example.com", 3, 20*time.Second)
		np.loss(100)
		cut := time.Now()
		line := bob.waitLog(bound+10*time.Second, "call state changed", map[string]any{"state": "Ended"})
		bobTook := time.Since(cut)
		alice.waitCount(bound+10*time.Second, "call state changed", map[string]any{"state": "Ended", "statusCode": 500}, 1)
		aliceTook := time.Since(cut)
		np.loss(0)
		t.Logf("MEASURED partition (%s): caller Ended %v %q after %s, answerer within %s", label, line["statusCode"], line["reason"],
			bobTook.Round(time.Millisecond), aliceTook.Round(time.Millisecond))
		if aliceTook > bound {
			t.Errorf("the partition ended the calls after %s, bound with these timeouts is %s", aliceTook, bound)
		}
		if fmt.Sprint(line["statusCode"]) != "500" || line["reason"] != "media connection failed" {
			t.Errorf("caller ended with %v %v, want 500 media connection failed", line["statusCode"], line["reason"])
		}
		if code := bob.wait(10 * time.Second); code != 6 {
			t.Errorf("caller exit %d after a media failure, want 6", code)
		}
		for _, side := range []struct{ store, who string }{{bobStore, "bob@example.com"}, {aliceStore, "alice@example.com"}} {
			c := waitEnded(t, side.store, side.who)
			if c.End.StatusCode != signaling.StatusMediaFailure || c.End.State != "Ended" || c.Samples < 3 {
				t.Errorf("%s's store after the partition: %+v", side.who, c)
			}
		}
	})
}
