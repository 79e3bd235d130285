package call

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/netem"
	"github.com/callstat/callstat/pkg/stats"
)

// Ground truth for Config.Network: two phones call each other on
// loopback, bob under conditions, and what alice (the peer) reports must
// match what was applied, and what bob's emulator counted it did.

// netSample is one poll of a call: both sides' reports and bob's
// emulator's counters, taken together (the counters last: whatever alice
// saw, they have).
type netSample struct {
	alice, bob stats.Report
	em         netem.Stats
}

// netRun is one call with bob under conditions: every poll, the last one
// in netSample.
type netRun struct {
	netSample
	samples []netSample
	cond    netem.Conditions
}

// number is a numeric field of the first object of type typ.
func number(r stats.Report, typ, field string) (float64, bool) {
	return firstOf(typ)(r).Number(field)
}

func reportNumber(t *testing.T, r stats.Report, typ, field string) float64 {
	t.Helper()
	v, ok := number(r, typ, field)
	if !ok {
		t.Fatalf("no %s.%s in the report", typ, field)
	}
	return v
}

func firstOf(typ string) func(stats.Report) stats.Object {
	return func(r stats.Report) stats.Object {
		for _, o := range r.Objects {
			if o.Type() == typ {
				return o
			}
		}
		return nil
	}
}

// selectedPair is the candidate pair the transport selected.
func selectedPair(r stats.Report) stats.Object {
	id, _ := firstOf("transport")(r)["selectedCandidatePairId"].(string)
	for _, o := range r.Objects {
		if o.Type() == "candidate-pair" && o.ID() == id {
			return o
		}
	}
	return nil
}

func aliceSide(s netSample) stats.Report { return s.alice }
func bobSide(s netSample) stats.Report   { return s.bob }

// measurements are the values of field each time counter grew over the
// call: one per measurement, not per poll.
func (r netRun) measurements(side func(netSample) stats.Report, obj func(stats.Report) stats.Object, counter, field string) []float64 {
	var out []float64
	last := 0.0
	for _, s := range r.samples {
		o := obj(side(s))
		n, ok1 := o.Number(counter)
		v, ok2 := o.Number(field)
		if ok1 && ok2 && n > last {
			out = append(out, v)
			last = n
		}
	}
	return out
}

// polled is a value at every poll that has it.
func (r netRun) polled(value func(netSample) (float64, bool)) []float64 {
	var out []float64
	for _, s := range r.samples {
		if v, ok := value(s); ok {
			out = append(out, v)
		}
	}
	return out
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2]
}

// lossPercent is the loss an inbound-rtp or remote-inbound-rtp reports
// over the call: packetsLost of the packets expected.
func lossPercent(t *testing.T, r stats.Report, typ string) float64 {
	t.Helper()
	lost := reportNumber(t, r, typ, "packetsLost")
	recv := reportNumber(t, r, typ, "packetsReceived")
	return 100 * lost / (lost + recv)
}

// callUnder places a call from bob, under spec, to alice and polls both
// sides every 100 ms until done says the call went far enough.
func callUnder(t *testing.T, url, name, spec string, done func(netSample) bool) netRun {
	t.Helper()
	cond, err := netem.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	em, err := netem.New(cond, netem.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	toneA, toneB := testSource(t, "tone:600"), testSource(t, "tone:1000")
	defer toneA.Close()
	defer toneB.Close()
	alice := newTestPhone(t, url, name+"-alice@example.com", true, toneA, Hooks{})
	answering := autoAnswer(t, alice)
	defer answering.Wait()
	defer alice.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bob, err := NewPhone(ctx, Config{ServerURL: url, Identity: name + "-bob@example.com", Source: toneB,
		ICELoopback: true, Logger: testLogger(t), Network: em})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	c, err := bob.Dial(context.Background(), name+"-alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, c.Connected(), "caller Connected")

	run := netRun{cond: cond}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if calls := alice.Calls(); len(calls) == 1 {
			a, errA := calls[0].CollectStats()
			b, errB := c.CollectStats()
			if errA == nil && errB == nil {
				run.netSample = netSample{alice: a, bob: b, em: em.Stats()}
				run.samples = append(run.samples, run.netSample)
				if done(run.netSample) {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the call did not get far enough in 30 s:\nalice %v\nbob %v", name, run.alice.Objects, run.bob.Objects)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Hangup("test done")
	wait(t, c.Done(), "caller Done")
	return run
}

// measured: packets received, and round trips measured by RTCP and by
// ICE at least n times each.
func measured(r stats.Report, packets, n int) bool {
	got, _ := number(r, "inbound-rtp", "packetsReceived")
	rtts, _ := number(r, "remote-inbound-rtp", "roundTripTimeMeasurements")
	ice, _ := selectedPair(r).Number("responsesReceived")
	return got >= float64(packets) && rtts >= float64(n) && ice >= float64(n)
}

func msOf(seconds float64) string { return fmt.Sprintf("%.1f ms", seconds*1000) }

func msList(vs []float64) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%.1f", v*1000)
	}
	return "[" + strings.Join(out, " ") + "] ms"
}

func TestNetworkGroundTruth(t *testing.T) {
	lim := test.TimeOut(3 * time.Minute)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()
	url, _, stopServer := testServer(t)
	defer stopServer()

	// A link with delay and random loss both ways, as most are: the round
	// trip is twice the one-way delay, each direction loses its share.
	t.Run("delay 40ms and loss 10% each way", func(t *testing.T) {
		r := callUnder(t, url, "delayloss", "delay=40ms,loss=10%,seed=1", func(s netSample) bool {
			return measured(s.alice, 300, 3) && measured(s.bob, 0, 3)
		})
		up, down := r.em.Up.Kinds[netem.KindRTP], r.em.Down.Kinds[netem.KindRTP]
		want := 2 * r.cond.Up.Delay.Seconds()
		rtts := map[string][]float64{
			"alice RTCP": r.measurements(aliceSide, firstOf("remote-inbound-rtp"), "roundTripTimeMeasurements", "roundTripTime"),
			"alice ICE":  r.measurements(aliceSide, selectedPair, "responsesReceived", "currentRoundTripTime"),
			"bob RTCP":   r.measurements(bobSide, firstOf("remote-inbound-rtp"), "roundTripTimeMeasurements", "roundTripTime"),
			"bob ICE":    r.measurements(bobSide, selectedPair, "responsesReceived", "currentRoundTripTime"),
		}
		aliceIn, aliceRemote := lossPercent(t, r.alice, "inbound-rtp"), lossPercent(t, r.alice, "remote-inbound-rtp")
		t.Logf("applied: delay %v each way (RTT %s), loss %v%% each way; emulator dropped %d of %d RTP up (%.2f%%), %d of %d down (%.2f%%)",
			r.cond.Up.Delay, msOf(want), r.cond.Up.Loss, up.Dropped(), up.Packets, up.DropPercent(), down.Dropped(), down.Packets, down.DropPercent())
		t.Logf("reported: RTT alice RTCP %s, ICE %s; bob RTCP %s, ICE %s; loss %.2f%% (alice inbound-rtp), %.2f%% (alice remote-inbound-rtp)",
			msList(rtts["alice RTCP"]), msList(rtts["alice ICE"]), msList(rtts["bob RTCP"]), msList(rtts["bob ICE"]), aliceIn, aliceRemote)
		// The delay is a floor that a busy machine can only add to: the
		// lowest measurement is the path's; the median bound keeps a
		// source that reports noise from passing.
		for name, vs := range rtts {
			if len(vs) == 0 {
				t.Errorf("%s: no round trip measured", name)
				continue
			}
			if lo, mid := slices.Min(vs), median(vs); lo < want-0.002 || lo > want+0.015 || mid > 2*want {
				t.Errorf("%s round-trip times %s: want the lowest within %s (2 × the one-way delay) - 2 / + 15 ms, the median under twice that",
					name, msList(vs), msOf(want))
			}
		}
		// Alice counts exactly what the emulator dropped on bob's way
		// out, but for drops after the last packet she received (and
		// before the first).
		lost := reportNumber(t, r.alice, "inbound-rtp", "packetsLost")
		if d := float64(up.Dropped()) - lost; d < 0 || d > 4 {
			t.Errorf("alice's inbound-rtp counts %.0f packets lost; bob's emulator dropped %d", lost, up.Dropped())
		}
		// Bob's receiver reports lag by up to a second: compare shares.
		for _, v := range []struct {
			name     string
			reported float64
			dropped  netem.Counters
		}{{"alice inbound-rtp", aliceIn, up}, {"alice remote-inbound-rtp", aliceRemote, down}} {
			if math.Abs(v.reported-v.dropped.DropPercent()) > 2 {
				t.Errorf("%s: %.2f%% lost, the emulator dropped %.2f%%", v.name, v.reported, v.dropped.DropPercent())
			}
			if math.Abs(v.reported-r.cond.Up.Loss) > 5 {
				t.Errorf("%s: %.2f%% lost, applied %v%%", v.name, v.reported, r.cond.Up.Loss)
			}
		}
	})

	// Jitter on bob's uplink only, with loss in bursts: the jitter alice
	// measures follows the emulator's (RFC 3550, on the same RTP headers),
	// well above the clean direction's; her losses come in runs.
	t.Run("uplink jitter 10ms and bursty loss", func(t *testing.T) {
		r := callUnder(t, url, "jitter", "up.delay=20ms,up.jitter=10ms,up.loss=10%,up.burst=3,seed=2", func(s netSample) bool {
			return measured(s.alice, 250, 1) && measured(s.bob, 0, 6)
		})
		ssrc := uint32(reportNumber(t, r.bob, "outbound-rtp", "ssrc"))
		stream, ok := r.em.Up.Stream(ssrc)
		if !ok {
			t.Fatalf("the emulator saw no RTP stream %d: %+v", ssrc, r.em.Up.Streams)
		}
		// Alice's jitter of bob's stream as her receiver reports carry it
		// to bob (pion's report interceptor), one value per report; as her
		// inbound-rtp shows it (pion's stats interceptor); the clean
		// direction's; and the emulator's, at every poll.
		reported := r.measurements(bobSide, firstOf("remote-inbound-rtp"), "roundTripTimeMeasurements", "jitter")
		field := func(side func(netSample) stats.Report, typ string) func(netSample) (float64, bool) {
			return func(s netSample) (float64, bool) { return number(side(s), typ, "jitter") }
		}
		inbound := r.polled(field(aliceSide, "inbound-rtp"))
		clean := r.polled(field(bobSide, "inbound-rtp"))
		emu := r.polled(func(s netSample) (float64, bool) {
			st, ok := s.em.Up.Stream(ssrc)
			return st.Jitter.Seconds(), ok && st.Delivered > 16
		})
		// Uniform ±J: the mean |difference| of two draws is 2J/3.
		theory := 2 * r.cond.Up.Jitter.Seconds() / 3
		lost := reportNumber(t, r.alice, "inbound-rtp", "packetsLost")
		events := reportNumber(t, r.alice, "inbound-rtp", "concealmentEvents")
		mRep, mIn, mClean, mEmu := median(reported), median(inbound), median(clean), median(emu)
		t.Logf("applied: jitter ±%v uniform (%s alone), loss %v%% in bursts of %v; emulator: jitter median %s, dropped %d of %d",
			r.cond.Up.Jitter, msOf(theory), r.cond.Up.Loss, r.cond.Up.Burst, msOf(mEmu), stream.Dropped(), stream.Packets)
		t.Logf("reported: jitter medians %s (alice's receiver reports %s), %s (alice's inbound-rtp), %s (bob's inbound-rtp, the clean direction); %.0f lost in %.0f concealment events",
			msOf(mRep), msList(reported), msOf(mIn), msOf(mClean), lost, events)
		// The receiver times packets on arrival, so a busy machine adds
		// its own scheduling noise to what it reports, never takes any
		// away: the bound above is the looser.
		if mRep < 0.7*mEmu-0.0005 || mRep > 1.5*mEmu+0.001 {
			t.Errorf("alice reports jitter %s, the emulator measured %s on the same packets", msOf(mRep), msOf(mEmu))
		}
		// The link's own share, 2J/3, is a floor: the sender's pacing and
		// a busy machine add to it (the clean direction shows how much).
		if mRep < 0.6*theory {
			t.Errorf("alice reports jitter %s, want at least about %s (2/3 of the uniform jitter)", msOf(mRep), msOf(theory))
		}
		// pion's stats interceptor (v0.1.51) differences the transit
		// twice, which reads √3 times high on random jitter: it is at
		// least the RFC 3550 figure.
		if mIn < 0.7*mEmu {
			t.Errorf("alice's inbound-rtp jitter %s, under the emulator's %s", msOf(mIn), msOf(mEmu))
		}
		if d := float64(stream.Dropped()) - lost; d < 0 || d > 2*r.cond.Up.Burst+2 {
			t.Errorf("alice counts %.0f lost; the emulator dropped %d", lost, stream.Dropped())
		}
		// One concealment event per run of lost packets: in bursts of 3
		// about a third as many events as losses (independent losses at
		// 10% would give 0.9).
		if lost < 5 || events > 0.6*lost {
			t.Errorf("%.0f concealment events for %.0f packets lost: not bursts", events, lost)
		}
	})

	// A bottleneck under the stream's bitrate with room to queue: the
	// queue grows, and so does the round trip, by the queueing delay.
	t.Run("uplink rate limit under the bitrate: queueing delay", func(t *testing.T) {
		r := callUnder(t, url, "bloat", "up.rate=40kbit,up.queue=1000", func(s netSample) bool {
			return measured(s.alice, 200, 3)
		})
		rtts := r.measurements(aliceSide, firstOf("remote-inbound-rtp"), "roundTripTimeMeasurements", "roundTripTime")
		up := r.em.Up
		lost := reportNumber(t, r.alice, "inbound-rtp", "packetsLost")
		t.Logf("applied: 40kbit with a long queue; emulator: %d packets, none dropped (%d), held mean %v, max %v",
			up.Packets, up.Dropped(), up.MeanHeld(), up.MaxHeld)
		t.Logf("reported: alice RTCP round trips %s, %.0f packets lost", msList(rtts), lost)
		if up.Dropped() != 0 || lost != 0 {
			t.Errorf("%d dropped, %.0f lost with room in the queue", up.Dropped(), lost)
		}
		// Each report waits behind what bob sent before it: the round
		// trips grow with the queue, the last under the longest wait.
		first, last := rtts[0], rtts[len(rtts)-1]
		if last < first+0.150 || last > up.MaxHeld.Seconds()+0.050 {
			t.Errorf("round trips %s: want them growing by over 150 ms, the last within the longest queueing delay %v", msList(rtts), up.MaxHeld)
		}
	})

	// The same bottleneck with a short queue: what overflows is lost.
	t.Run("uplink rate limit under the bitrate: overflow", func(t *testing.T) {
		r := callUnder(t, url, "rate", "up.rate=40kbit,up.queue=5", func(s netSample) bool {
			got, _ := number(s.alice, "inbound-rtp", "packetsReceived")
			return got >= 150
		})
		rtp := r.em.Up.Kinds[netem.KindRTP]
		lost := reportNumber(t, r.alice, "inbound-rtp", "packetsLost")
		// What the stream asks of the link, headers included.
		offered := float64(rtp.Bytes+28*rtp.Packets) * 8 / (float64(rtp.Packets) / 50)
		t.Logf("applied: 40kbit, queue 5; emulator: %d RTP offered at %.1f kbit/s, %d overflowed (%.2f%%), held max %v",
			rtp.Packets, offered/1000, rtp.Overflow, rtp.DropPercent(), r.em.Up.MaxHeld)
		aliceLoss := lossPercent(t, r.alice, "inbound-rtp")
		t.Logf("reported: alice inbound-rtp %.0f lost (%.2f%%); a full queue passes %.0f%% of what is offered", lost, aliceLoss, 100*40000/offered)
		// Once the queue is full the link passes its rate and no more;
		// the first half second or so, while it fills, loses nothing.
		if want := 100 * (1 - 40000/offered); aliceLoss > want+2 || aliceLoss < want-6 {
			t.Errorf("alice lost %.2f%%; a 40 kbit/s link under %.1f kbit/s loses %.2f%% once its queue is full", aliceLoss, offered/1000, want)
		}
		// Alice learns of a drop from the next packet she receives: the
		// ones dropped while the last five wait are not counted yet.
		if d := float64(rtp.Overflow) - lost; rtp.Overflow == 0 || d < 0 || d > 10 {
			t.Errorf("alice counts %.0f lost, the queue overflowed %d times", lost, rtp.Overflow)
		}
	})

	// Duplicates reach the peer: its transport counts them
	// (candidate-pair packetsReceived counts every application packet).
	// Its RTP statistics never see them: SRTP's replay protection
	// (RFC 3711 §3.3.2, on by default in pion's SRTP sessions) discards a
	// packet it already authenticated, before any interceptor.
	t.Run("uplink duplication 10%", func(t *testing.T) {
		r := callUnder(t, url, "dup", "up.dup=10%,seed=3", func(s netSample) bool {
			got, _ := number(s.alice, "inbound-rtp", "packetsReceived")
			return got >= 200
		})
		up := r.em.Up
		var media uint64 // what ICE counts: all but STUN
		for k, c := range up.Kinds {
			if netem.Kind(k) != netem.KindSTUN {
				media += c.Duplicated
			}
		}
		sent := reportNumber(t, r.bob, "transport", "packetsSent")
		received := reportNumber(t, r.alice, "transport", "packetsReceived")
		rtpSent := reportNumber(t, r.bob, "outbound-rtp", "packetsSent")
		rtpReceived := reportNumber(t, r.alice, "inbound-rtp", "packetsReceived")
		lost := reportNumber(t, r.alice, "inbound-rtp", "packetsLost")
		t.Logf("applied: dup %v%%; emulator duplicated %d packets (%d RTP of %d)", r.cond.Up.Duplicate, media,
			up.Kinds[netem.KindRTP].Duplicated, up.Kinds[netem.KindRTP].Packets)
		t.Logf("reported: transport %0.f sent (bob), %.0f received (alice); RTP %.0f sent, %.0f received, packetsLost %.0f",
			sent, received, rtpSent, rtpReceived, lost)
		// Bob's and alice's reports are read a few milliseconds apart.
		if d := received - sent - float64(media); math.Abs(d) > 4 || media < 5 {
			t.Errorf("alice's transport received %.0f - bob's %.0f sent = %.0f, the emulator duplicated %d", received, sent, received-sent, media)
		}
		if d := rtpReceived - rtpSent; math.Abs(d) > 4 || math.Abs(lost) > 2 {
			t.Errorf("alice's inbound-rtp received %.0f of bob's %.0f (%.0f lost): want the duplicates discarded", rtpReceived, rtpSent, lost)
		}
	})
}
