//go:build linux

package main

// Ground truth: callstat's statistics against network conditions the test
// imposes. The answerer and the server run in one network namespace, the
// caller in another, joined by a link with known delay, jitter and loss
// (internal/testkit/netlab); the real binary places a real call over
// it and the caller's stats file must report what the link did.

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/netlab"
)

// condition is one ground-truth run. rfcJitter runs it on the userspace
// link, which computes the RFC 3550 jitter of what it delivers.
type condition struct {
	name      string
	cond      netlab.Condition
	duration  time.Duration
	rfcJitter bool
}

// measured is what the caller's stats file says about a run.
type measured struct {
	store string
	// Round-trip times, ms, every sample's: RTCP's and XR's measured
	// every second, ICE's every 2 s. A busy machine (the processes, the
	// userspace link) can only add to them.
	rtts                      map[string][]float64 // by stats type
	jitters                   []float64            // the received stream's, every sample's, ms
	inboundLoss, remoteLoss   float64              // over the call, percent
	inboundTotal, remoteTotal float64              // packets the loss is out of
	mosMean                   float64
	link                      netlab.Stats // zero unless the userspace link ran
	// The received audio's concealment over the call (inbound-rtp of the
	// last sample), and the packets lost it stands for.
	concealedSamples, concealmentEvents, inboundLost float64
	// With rfcJitter: the reported jitter and the link's, per sample.
	inboundJitter, remoteJitter jitterPairs
}

// Not parallel with the other end-to-end tests: round-trip times and jitter
// measure time, and a machine busy with other calls would add to them.
func TestGroundTruth(t *testing.T) {
	// The 30 s loss run goes alongside the short ones, which run one after
	// the other: two calls at a time keep the CPU quiet enough for timing
	// figures.
	lossRun := condition{"loss", netlab.Condition{Loss: 5}, 30 * time.Second, false}
	chain := []condition{
		{"none", netlab.Condition{}, 6 * time.Second, false},
		{"delay", netlab.Condition{Delay: 50 * time.Millisecond}, 8 * time.Second, false},
	}
	// Delay variation of three sizes: under ±40 ms packets overtake each
	// other, which RFC 3550 counts in arrival order.
	jitterRuns := []condition{
		{"jitter 5ms", netlab.Condition{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond}, 12 * time.Second, true},
		{"jitter 15ms", netlab.Condition{Delay: 40 * time.Millisecond, Jitter: 15 * time.Millisecond}, 12 * time.Second, true},
		{"jitter 40ms", netlab.Condition{Delay: 60 * time.Millisecond, Jitter: 40 * time.Millisecond}, 12 * time.Second, true},
	}
	chain = append(chain, jitterRuns...)
	// Outlives the subtests, whose own temporary directories do not.
	dir := t.TempDir()
	var mu sync.Mutex
	results := map[string]measured{}
	runOne := func(t *testing.T, c condition) {
		m := groundTruthCall(t, c, filepath.Join(dir, c.name))
		t.Logf("%s (%s): RTT ms rtcp %.1f ice %.1f xr %.1f; jitter ms %.1f; loss %.2f%% of %.0f inbound, %.2f%% of %.0f remote; MOS %.2f; concealed %.0f samples in %.0f events",
			c.name, c.cond, m.rtts["remote-inbound-rtp"], m.rtts["candidate-pair"], m.rtts["remote-outbound-rtp"], m.jitters,
			m.inboundLoss, m.inboundTotal, m.remoteLoss, m.remoteTotal, m.mosMean, m.concealedSamples, m.concealmentEvents)
		mu.Lock()
		results[c.name] = m
		mu.Unlock()
	}
	t.Run("conditions", func(t *testing.T) {
		t.Run(lossRun.name, func(t *testing.T) {
			t.Parallel()
			runOne(t, lossRun)
		})
		t.Run("short", func(t *testing.T) {
			t.Parallel()
			for _, c := range chain {
				t.Run(c.name, func(t *testing.T) { runOne(t, c) })
			}
		})
	})
	// The parallel runs are over: t.Run waits for them.
	if t.Failed() {
		return
	}

	none, delay, loss := results["none"], results["delay"], results["loss"]
	// Round-trip times: a busy machine delays the processes and the
	// userspace link, and that can only add to what is measured. So the
	// accuracy is checked on the smallest value each source reported
	// (the path's), and the median must stay close: a source that
	// reported noise would not pass both.
	t.Run("no impairment: no loss, RTT of a few ms", func(t *testing.T) {
		if none.inboundLoss != 0 || none.remoteLoss != 0 {
			t.Errorf("loss %.2f%% inbound, %.2f%% remote, want none", none.inboundLoss, none.remoteLoss)
		}
		if none.concealedSamples != 0 || none.concealmentEvents != 0 {
			t.Errorf("%.0f samples concealed in %.0f events with no packet lost, want none", none.concealedSamples, none.concealmentEvents)
		}
		for typ, vs := range none.rtts {
			if lo, mid := slices.Min(vs), median(vs); lo < 0 || lo > 5 || mid > 20 {
				t.Errorf("%s round-trip time: lowest %.2f ms, median %.2f ms; want under 5 ms and a median under 20 ms", typ, lo, mid)
			}
		}
	})
	t.Run("delay 50ms each way: RTT within 15% of 100 ms", func(t *testing.T) {
		for typ, vs := range delay.rtts {
			if lo, mid := slices.Min(vs), median(vs); lo < 85 || lo > 115 || mid > 150 {
				t.Errorf("%s round-trip time: lowest %.1f ms, median %.1f ms; want 100 ms ± 15 %% and a median under 150 ms", typ, lo, mid)
			}
		}
	})
	t.Run("loss 5%: within 2 points on both views, and concealed", func(t *testing.T) {
		for name, v := range map[string]float64{"inbound-rtp": loss.inboundLoss, "remote-inbound-rtp": loss.remoteLoss} {
			if v < 3 || v > 7 {
				t.Errorf("%s loss %.2f %%, want 5 ± 2", name, v)
			}
		}
		// Where the link is ours it counts what it dropped: the reports
		// must match it closely, not only the nominal 5 %. The caller
		// receives what goes A->B; its stream goes B->A.
		if loss.link.AtoB.RTP > 0 {
			for _, v := range []struct {
				name     string
				reported float64
				link     netlab.DirectionStats
			}{{"inbound-rtp", loss.inboundLoss, loss.link.AtoB}, {"remote-inbound-rtp", loss.remoteLoss, loss.link.BtoA}} {
				if d := math.Abs(v.reported - v.link.RTPLossPercent()); d > 1 {
					t.Errorf("%s loss %.2f %%, the link dropped %.2f %% of the RTP packets (%d of %d)",
						v.name, v.reported, v.link.RTPLossPercent(), v.link.RTPDropped, v.link.RTP)
				}
			}
		}
		// Each packet lost is 20 ms of audio that the decoder conceals
		// (48 kHz: 960 samples); packets lost in a row are one event.
		if want := loss.inboundLost * 960; loss.inboundLost <= 0 || math.Abs(loss.concealedSamples-want) > 0.1*want {
			t.Errorf("%.0f samples concealed for %.0f packets lost, want %.0f ± 10 %%", loss.concealedSamples, loss.inboundLost, want)
		}
		if ev := loss.concealmentEvents; ev < 0.5*loss.inboundLost || ev > loss.inboundLost {
			t.Errorf("%.0f concealment events for %.0f packets lost: want one per gap (at most one a packet, most losses single at 5 %%)",
				ev, loss.inboundLost)
		}
		if loss.mosMean >= none.mosMean {
			t.Errorf("MOS mean %.2f with 5%% loss, not below %.2f without", loss.mosMean, none.mosMean)
		}
		// The gate a CI job would set catches it; the clean call passes.
		if _, errOut, code := run(t, 20*time.Second, "summary", "--store", loss.store, "--assert", "loss<=1%"); code != 13 ||
			!strings.Contains(errOut, "assertion failed: call ") {
			t.Errorf("summary --assert loss<=1%% on the lossy call: exit %d\n%s", code, errOut)
		}
		if _, errOut, code := run(t, 20*time.Second, "summary", "--store", none.store, "--assert", "loss<=1%,rtt.p50<=10ms"); code != 0 {
			t.Errorf("summary --assert on the clean call: exit %d\n%s", code, errOut)
		}
	})
	// The jitter callstat reports, and the one the answerer's receiver
	// reports carry, are RFC 3550's: within 10 % of what the link computed
	// on the packets it delivered, at the same moments, in the median
	// sample.
	for _, c := range jitterRuns {
		m := results[c.name]
		t.Run(c.name+": RFC 3550 jitter within 10% of the link's", func(t *testing.T) {
			for _, v := range []struct {
				name  string
				pairs jitterPairs
			}{{"inbound-rtp", m.inboundJitter}, {"remote-inbound-rtp", m.remoteJitter}} {
				r := v.pairs.ratio()
				t.Logf("%s: reported mean %.2f ms, link %.2f ms; median ratio %.3f over %d samples", v.name,
					mean(v.pairs.reported), mean(v.pairs.link), r, len(v.pairs.reported))
				if len(v.pairs.reported) < 5 || !(r >= 0.9 && r <= 1.1) {
					t.Errorf("%s jitter: reported %.2f ms, the link's RFC 3550 figure %.2f ms (median ratio %.3f): want within 10 %%",
						v.name, v.pairs.reported, v.pairs.link, r)
				}
			}
		})
	}
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x / float64(len(xs))
	}
	return s
}

// groundTruthCall places one call across a lab under c and reads the
// caller's stats file.
func groundTruthCall(t *testing.T, c condition, dir string) measured {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	newLab := netlab.New
	if c.rfcJitter {
		newLab = netlab.NewUserspace
	}
	lab, err := newLab(ctx, c.cond)
	if errors.Is(err, netlab.ErrNotRoot) {
		t.Fatalf("%v (the ground-truth tests impose network conditions in namespaces they create)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: after the processes in the
	// namespaces are stopped, also when the test fails.
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("removing the lab: %v", err)
		}
		if netlab.Exists(lab.NSA) || netlab.Exists(lab.NSB) {
			t.Errorf("namespaces %s, %s left behind", lab.NSA, lab.NSB)
		}
	})
	t.Logf("%s: link %s, %s", c.name, lab.Mode, c.cond)
	if c.rfcJitter {
		if err := lab.RecordRTPJitter(48000); err != nil { // Opus
			t.Fatal(err)
		}
	}

	aliceStore, bobStore := filepath.Join(dir, "alice.db"), filepath.Join(dir, "bob.db")
	cli := func(args ...string) []string {
		return append([]string{binary, "--log-format", "json", "--log-level", "debug"}, args...)
	}
	srvArgs := cli("serve", "--listen", lab.AddrA+":0")
	srv := startCmd(t, c.name+" serve", lab.Command(context.Background(), lab.NSA, srvArgs[0], srvArgs[1:]...))
	url := srv.waitLog(20*time.Second, "signaling server listening", nil)["ws"].(string)
	ansArgs := cli("answer", "--as", "alice@example.com", "--server", url, "--store", aliceStore, "--audio", "tone:440")
	alice := startCmd(t, c.name+" answer", lab.Command(context.Background(), lab.NSA, ansArgs[0], ansArgs[1:]...))
	alice.waitLog(30*time.Second, "registered", nil)

	// Media on the link's addresses: the namespace has no other interface
	// but loopback, which ICE leaves out without --ice-loopback.
	callCtx, callCancel := context.WithTimeout(ctx, c.duration+60*time.Second)
	defer callCancel()
	_, stderr, code := runCmd(t, callCtx, lab.Command(callCtx, lab.NSB, binary, "call", "alice@example.com",
		"--from", "bob@example.com", "--server", url, "--store", bobStore, "--audio", "tone:880",
		"--duration", c.duration.String()))
	if code != 0 {
		t.Fatalf("call across the lab exit %d:\n%s", code, stderr)
	}
	m := measured{store: bobStore, link: lab.Stats()}
	if st := m.link; lab.Mode == netlab.ModeUserspace {
		t.Logf("%s: link carried %d packets A->B (%d RTP, %d dropped), %d B->A (%d RTP, %d dropped)", c.name,
			st.AtoB.Packets, st.AtoB.RTP, st.AtoB.RTPDropped, st.BtoA.Packets, st.BtoA.RTP, st.BtoA.RTPDropped)
	}

	calls := dumpFile(t, bobStore, "bob@example.com")
	if len(calls) != 1 {
		t.Fatalf("caller stored %d calls", len(calls))
	}
	ss := samples(t, calls[0])
	var rtcp, ice, xr, jit []float64
	for i, s := range ss {
		if i < 2 {
			continue // the first seconds measure the connection's start
		}
		if v, ok := measuredField(s, "remote-inbound-rtp", "roundTripTime"); ok {
			rtcp = append(rtcp, v*1000)
		}
		if v, ok := measuredField(s, "remote-outbound-rtp", "roundTripTime"); ok {
			xr = append(xr, v*1000)
		}
		if v, ok := selectedPairRTT(s); ok {
			ice = append(ice, v*1000)
		}
		if v, ok := field(s, "inbound-rtp", "jitter"); ok {
			jit = append(jit, v*1000)
		}
	}
	if len(rtcp) == 0 || len(ice) == 0 || len(xr) == 0 || len(jit) == 0 {
		t.Fatalf("%d samples: RTCP RTT %v, ICE RTT %v, XR RTT %v, jitter %v", len(ss), rtcp, ice, xr, jit)
	}
	m.rtts = map[string][]float64{"remote-inbound-rtp": rtcp, "candidate-pair": ice, "remote-outbound-rtp": xr}
	if c.rfcJitter {
		aToB, bToA := lab.RTPJitter()
		m.inboundJitter, m.remoteJitter = rfcJitterPairs(t, ss, aToB, bToA)
	}
	m.jitters = jit
	last := ss[len(ss)-1]
	m.inboundLoss, m.inboundTotal = lossOf(t, last, "inbound-rtp")
	m.remoteLoss, m.remoteTotal = lossOf(t, last, "remote-inbound-rtp")
	m.inboundLost, _ = field(last, "inbound-rtp", "packetsLost")
	var ok1, ok2 bool
	m.concealedSamples, ok1 = field(last, "inbound-rtp", "concealedSamples")
	m.concealmentEvents, ok2 = field(last, "inbound-rtp", "concealmentEvents")
	if !ok1 || !ok2 {
		t.Fatalf("last sample's inbound-rtp has no concealment counters")
	}
	var mos []float64
	for _, s := range ss {
		if v, ok := s[0]["mos"].(float64); ok {
			mos = append(mos, v)
		}
	}
	if len(mos) == 0 {
		t.Fatal("no sample carries a MOS estimate")
	}
	for _, v := range mos {
		m.mosMean += v / float64(len(mos))
	}
	return m
}

// measuredField is a round-trip time that has been measured at least once.
func measuredField(s []map[string]any, typ, name string) (float64, bool) {
	for _, o := range s {
		if o["type"] == typ {
			if n, _ := o["roundTripTimeMeasurements"].(float64); n == 0 {
				return 0, false
			}
			v, ok := o[name].(float64)
			return v, ok
		}
	}
	return 0, false
}

// selectedPairRTT is the ICE round-trip time of the transport's selected
// candidate pair.
func selectedPairRTT(s []map[string]any) (float64, bool) {
	var selected string
	for _, o := range s {
		if o["type"] == "transport" {
			selected, _ = o["selectedCandidatePairId"].(string)
		}
	}
	for _, o := range s {
		if o["type"] == "candidate-pair" && o["id"] == selected {
			v, ok := o["currentRoundTripTime"].(float64)
			return v, ok
		}
	}
	return 0, false
}

// lossOf is a stream's loss over the call, in percent, and the number of
// packets it is out of.
func lossOf(t *testing.T, s []map[string]any, typ string) (float64, float64) {
	t.Helper()
	lost, ok1 := field(s, typ, "packetsLost")
	received, ok2 := field(s, typ, "packetsReceived")
	if !ok1 || !ok2 || received+lost <= 0 {
		t.Fatalf("last sample has no %s counters", typ)
	}
	return 100 * math.Max(lost, 0) / (received + lost), received + lost
}
