package audio

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// encodePCM encodes pcm (whole 20 ms frames) with the browser-like
// encoder: one packet per 20 ms.
func encodePCM(t testing.TB, pcm []int16, fec bool) [][]byte {
	t.Helper()
	enc, err := newOpusEncoder(32000, fec, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.close()
	var out [][]byte
	for i := 0; i+frameLen <= len(pcm); i += frameLen {
		p, err := enc.encode(pcm[i : i+frameLen])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// loopPCM repeats pcm to n samples.
func loopPCM(pcm []int16, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = pcm[i%len(pcm)]
	}
	return out
}

// tonePCM is a 16-bit sine of amplitude 0.5.
func tonePCM(hz float64, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(16384 * math.Sin(2*math.Pi*hz*float64(i)/SampleRate)))
	}
	return out
}

// simPacket is a packet of a simulated stream and when it arrives; lost
// packets never do.
type simPacket struct {
	pkt  *rtp.Packet
	at   time.Duration
	lost bool
}

// stream makes the packets of payloads, sent every 20 ms from t=0 with
// sequence numbers and timestamps that wrap, each arriving after
// delay(i) (negative: lost).
func stream(payloads [][]byte, delay func(i int) time.Duration) []simPacket {
	out := make([]simPacket, len(payloads))
	for i, p := range payloads {
		d := delay(i)
		out[i] = simPacket{
			pkt: &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: OpusPayloadType, SSRC: 42,
				SequenceNumber: uint16(65500 + i), Timestamp: uint32(4294900000 + i*frameLen)}, Payload: p},
			at:   time.Duration(i)*FrameTime + d,
			lost: d < 0,
		}
	}
	return out
}

// simulation drives a player on a simulated clock: packets arrive when
// they arrive, and the playout clock pulls 10 ms every 10 ms from phase
// on, until end.
type simulation struct {
	t      testing.TB
	p      *player
	dev    device
	played []int16 // everything pulled
	epoch  time.Time
}

func newSimulation(t testing.TB) *simulation {
	t.Helper()
	p, err := newPlayer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	p.clock = func() time.Duration { return 0 } // decoding takes no time: figures are exact
	return &simulation{t: t, p: p, epoch: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (s *simulation) run(pkts []simPacket, phase, end time.Duration) {
	arrivals := make([]simPacket, 0, len(pkts))
	for _, p := range pkts {
		if !p.lost {
			arrivals = append(arrivals, p)
		}
	}
	sort.SliceStable(arrivals, func(i, j int) bool { return arrivals[i].at < arrivals[j].at })
	frame := make([]int16, outFrame)
	for now := phase; now < end; now += 10 * time.Millisecond {
		for len(arrivals) > 0 && arrivals[0].at <= now {
			s.p.push(arrivals[0].pkt, s.epoch.Add(arrivals[0].at))
			arrivals = arrivals[1:]
		}
		if s.p.pull(s.epoch.Add(now), frame) {
			s.dev.deliver(s.epoch.Add(now), outFrame)
			s.played = append(s.played, frame...)
		}
	}
}

func (s *simulation) stats() ReceiveStats { return s.p.stats(s.dev.stats()) }

// checkInvariants checks what holds whatever the network did: every
// sample played was decoded, concealed or inserted, less those removed;
// the level is libwebrtc's level of what was played.
func (s *simulation) checkInvariants() {
	s.t.Helper()
	st := s.stats()
	if got, want := st.TotalSamplesReceived+uint64(s.p.fut.len()),
		st.JitterBufferEmittedCount+st.ConcealedSamples+st.InsertedSamplesForDeceleration-st.RemovedSamplesForAcceleration; got != want {
		s.t.Errorf("played %d + buffered %d samples, but emitted %d + concealed %d + inserted %d - removed %d = %d",
			st.TotalSamplesReceived, s.p.fut.len(), st.JitterBufferEmittedCount, st.ConcealedSamples,
			st.InsertedSamplesForDeceleration, st.RemovedSamplesForAcceleration, want)
	}
	if st.TotalSamplesReceived != uint64(len(s.played)) || st.Playout.TotalSamplesCount != uint64(len(s.played)) {
		s.t.Errorf("totalSamplesReceived %d, media-playout totalSamplesCount %d, pulled %d",
			st.TotalSamplesReceived, st.Playout.TotalSamplesCount, len(s.played))
	}
	var ref refLevel
	for i := 0; i+levelFrame <= len(s.played); i += levelFrame {
		ref.computeLevel(s.played[i:i+levelFrame], 0.01)
	}
	if st.AudioLevel != float64(ref.current)/32767 || math.Abs(st.TotalAudioEnergy-ref.totalEnergy) > 1e-9 ||
		math.Abs(st.TotalSamplesDuration-ref.totalDur) > 1e-9 {
		s.t.Errorf("levels %v %v %v, libwebrtc's of the audio played %v %v %v", st.AudioLevel, st.TotalAudioEnergy,
			st.TotalSamplesDuration, float64(ref.current)/32767, ref.totalEnergy, ref.totalDur)
	}
	if st.JitterBufferMinimumDelay != st.JitterBufferTargetDelay {
		s.t.Errorf("jitterBufferMinimumDelay %v != jitterBufferTargetDelay %v without delay constraints",
			st.JitterBufferMinimumDelay, st.JitterBufferTargetDelay)
	}
	if st.TotalProcessingDelay != st.JitterBufferDelay { // decoding takes no time here
		s.t.Errorf("totalProcessingDelay %v, jitterBufferDelay %v", st.TotalProcessingDelay, st.JitterBufferDelay)
	}
}

func perSample(total float64, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return total / float64(n) * 1000
}

func logStats(t testing.TB, st ReceiveStats) {
	t.Helper()
	t.Logf("played %.2f s; concealed %d in %d events (%d silent); discarded %d, duplicates %d; inserted %d, removed %d; "+
		"buffer delay %.1f ms, target %.1f ms; FEC %d of %d used; level %.3f energy %.4f",
		float64(st.TotalSamplesReceived)/SampleRate, st.ConcealedSamples, st.ConcealmentEvents, st.SilentConcealedSamples,
		st.PacketsDiscarded, st.PacketsDuplicated, st.InsertedSamplesForDeceleration, st.RemovedSamplesForAcceleration,
		perSample(st.JitterBufferDelay, st.JitterBufferEmittedCount), perSample(st.JitterBufferTargetDelay, st.JitterBufferEmittedCount),
		st.FECPacketsReceived-st.FECPacketsDiscarded, st.FECPacketsReceived, st.AudioLevel, st.TotalAudioEnergy)
}

func countLost(n int, lost func(i int) bool) int {
	c := 0
	for i := range n {
		if lost(i) {
			c++
		}
	}
	return c
}

// within reports whether got is within frac of want.
func within(got, want, frac float64) bool { return math.Abs(got-want) <= frac*want }

// The playout path against network conditions whose effect is known: what
// it conceals, discards, stretches, and the delay it settles at.
func TestPlayerScenarios(t *testing.T) {
	speech := loopPCM(bursty(), 12*SampleRate)
	plain := encodePCM(t, speech, false)
	withFEC := encodePCM(t, speech, true)
	n := len(plain)
	rng := rand.New(rand.NewPCG(1, 2))
	jitter := make([]time.Duration, n)
	for i := range jitter {
		jitter[i] = base + time.Duration(rng.Float64()*float64(60*time.Millisecond))
	}
	every20th := func(i int) bool { return i%20 == 10 }
	lost20 := countLost(n, every20th)
	// The same, but not in the last second: the simulation ends with the
	// stream, the buffer's 200 ms unplayed.
	burstLost := func(i int) bool { return every20th(i) && i < n-50 }
	tests := []struct {
		name     string
		payloads [][]byte
		delay    func(i int) time.Duration
		check    func(t *testing.T, st ReceiveStats, s *simulation)
	}{
		{"steady", plain, func(int) time.Duration { return base }, func(t *testing.T, st ReceiveStats, s *simulation) {
			if st.ConcealedSamples != 0 || st.PacketsDiscarded != 0 {
				t.Errorf("concealed %d, discarded %d on a steady stream", st.ConcealedSamples, st.PacketsDiscarded)
			}
			// From the start target (80 ms) down to the smallest
			// (20 ms: every packet's relative delay is 0), by removing
			// audio.
			if s.p.targetMs() != delayBucketMs || st.RemovedSamplesForAcceleration == 0 {
				t.Errorf("target %d ms, removed %d samples: want 20 ms, reached by accelerating", s.p.targetMs(), st.RemovedSamplesForAcceleration)
			}
			if d := perSample(st.JitterBufferDelay, st.JitterBufferEmittedCount); d > 40 {
				t.Errorf("mean jitter buffer delay %.1f ms, want under 40", d)
			}
		}},
		{"every 20th lost", plain, lossDelay(every20th), func(t *testing.T, st ReceiveStats, s *simulation) {
			// Each loss is concealed for its 20 ms (more only where the
			// delay grew), one event each.
			if !within(float64(st.ConcealedSamples), float64(lost20*frameLen), 0.1) || st.ConcealmentEvents != uint64(lost20) {
				t.Errorf("concealed %d samples in %d events for %d lost, want %d ± 10 %% in %d", st.ConcealedSamples,
					st.ConcealmentEvents, lost20, lost20*frameLen, lost20)
			}
		}},
		{"every 20th lost, arriving in bursts of 10", plain, func(i int) time.Duration {
			if burstLost(i) {
				return -1
			}
			return base + time.Duration(9-i%10)*FrameTime // each waits for the last of its ten
		}, func(t *testing.T, st ReceiveStats, s *simulation) {
			// The buffer holds up to 200 ms, over its target by more than
			// 50 ms at times (where NetEq would skip part of a gap): each
			// lost packet is still concealed in full, and nothing else.
			lost := countLost(n, burstLost)
			if st.ConcealedSamples != uint64(lost*frameLen) || st.ConcealmentEvents != uint64(lost) {
				t.Errorf("concealed %d samples in %d events for %d lost, want %d in %d", st.ConcealedSamples,
					st.ConcealmentEvents, lost, lost*frameLen, lost)
			}
		}},
		{"five in a row lost", plain, lossDelay(func(i int) bool { return i >= 300 && i < 305 }), func(t *testing.T, st ReceiveStats, s *simulation) {
			if !within(float64(st.ConcealedSamples), float64(5*frameLen), 0.1) || st.ConcealmentEvents != 1 {
				t.Errorf("concealed %d samples in %d events, want %d in 1", st.ConcealedSamples, st.ConcealmentEvents, 5*frameLen)
			}
		}},
		{"every 20th lost, in-band FEC", withFEC, lossDelay(every20th), func(t *testing.T, st ReceiveStats, s *simulation) {
			// A loss whose successor carries LBRR is played from it and is
			// not concealment; the others are concealed.
			recoverable := 0
			for i := range n {
				if every20th(i) && i+1 < n && packetHasFEC(withFEC[i+1]) {
					recoverable++
				}
			}
			used := st.FECPacketsReceived - st.FECPacketsDiscarded
			if recoverable == 0 || used != uint64(recoverable) {
				t.Errorf("FEC used for %d losses, %d were recoverable", used, recoverable)
			}
			if want := (lost20 - recoverable) * frameLen; !within(float64(st.ConcealedSamples), float64(want), 0.1) {
				t.Errorf("concealed %d samples, want %d ± 10 %% (%d losses without FEC)", st.ConcealedSamples, want, lost20-recoverable)
			}
		}},
		{"one packet 300 ms late", plain, func(i int) time.Duration {
			if i == 300 {
				return base + 300*time.Millisecond
			}
			return base
		}, func(t *testing.T, st ReceiveStats, s *simulation) {
			// Concealed in time, skipped, and discarded when it came.
			if st.ConcealedSamples != uint64(frameLen) || st.ConcealmentEvents != 1 || st.PacketsDiscarded != 1 {
				t.Errorf("concealed %d in %d events, discarded %d; want %d in 1, 1", st.ConcealedSamples, st.ConcealmentEvents,
					st.PacketsDiscarded, frameLen)
			}
		}},
		{"200 ms outage", plain, func(i int) time.Duration {
			if i >= 300 && i < 310 { // held, then delivered with packet 310
				return base + time.Duration(310-i)*FrameTime
			}
			return base
		}, func(t *testing.T, st ReceiveStats, s *simulation) {
			// Nothing lost: the outage is concealed (less what the buffer
			// held), every packet played late, and the delay then brought
			// down again.
			if st.PacketsDiscarded != 0 || st.ConcealmentEvents != 1 || st.ConcealedSamples == 0 ||
				st.ConcealedSamples > 200*samplesPerMs || st.RemovedSamplesForAcceleration == 0 {
				t.Errorf("discarded %d, concealed %d in %d events, removed %d: want 0, up to 200 ms in 1, some",
					st.PacketsDiscarded, st.ConcealedSamples, st.ConcealmentEvents, st.RemovedSamplesForAcceleration)
			}
		}},
		{"jitter 0-60 ms", plain, func(i int) time.Duration { return jitter[i] }, func(t *testing.T, st ReceiveStats, s *simulation) {
			// The target is the 95th percentile of the relative delay (57 ms)
			// in 20 ms buckets, rounded up: 60 ms.
			if s.p.targetMs() != 60 {
				t.Errorf("target %d ms, want 60", s.p.targetMs())
			}
			if d := perSample(st.JitterBufferTargetDelay, st.JitterBufferEmittedCount); d < 50 || d > 70 {
				t.Errorf("mean target delay %.1f ms, want about 60", d)
			}
			if c := float64(st.ConcealedSamples) / float64(st.TotalSamplesReceived); c > 0.01 || st.PacketsDiscarded > 2 {
				t.Errorf("concealed %.2f %%, discarded %d: the buffer should absorb the jitter", 100*c, st.PacketsDiscarded)
			}
		}},
		{"pairs swapped", plain, func(i int) time.Duration {
			if i%2 == 0 {
				return base + 21*time.Millisecond
			}
			return base
		}, func(t *testing.T, st ReceiveStats, s *simulation) {
			if st.ConcealedSamples != 0 || st.PacketsDiscarded != 0 {
				t.Errorf("concealed %d, discarded %d: reordering within the buffer is not loss", st.ConcealedSamples, st.PacketsDiscarded)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSimulation(t)
			s.run(stream(tt.payloads, tt.delay), 3*time.Millisecond, time.Duration(len(tt.payloads))*FrameTime+base)
			s.checkInvariants()
			st := s.stats()
			logStats(t, st)
			tt.check(t, st, s)
		})
	}
}

// base is the simulated network's one-way delay.
const base = 30 * time.Millisecond

// lossDelay delays every packet by base and loses those lost says.
func lossDelay(lost func(i int) bool) func(i int) time.Duration {
	return func(i int) time.Duration {
		if lost(i) {
			return -1
		}
		return base
	}
}

// Packets the network or the far end got wrong.
func TestPlayerEdgeCases(t *testing.T) {
	plain := encodePCM(t, tonePCM(1000, 5*SampleRate), false) // 250 packets
	t.Run("duplicates are counted, not discarded", func(t *testing.T) {
		pkts := stream(plain, func(int) time.Duration { return base })
		for i := 10; i < len(plain); i += 10 { // again, 5 ms later
			dup := *pkts[i].pkt
			pkts = append(pkts, simPacket{pkt: &dup, at: pkts[i].at + 5*time.Millisecond})
		}
		// and one 1 s after it was played
		old := *pkts[20].pkt
		pkts = append(pkts, simPacket{pkt: &old, at: pkts[20].at + time.Second})
		s := newSimulation(t)
		s.run(pkts, 3*time.Millisecond, 5*time.Second)
		s.checkInvariants()
		if st := s.stats(); st.PacketsDuplicated != uint64(len(plain)/10) || st.PacketsDiscarded != 0 || st.ConcealedSamples != 0 {
			t.Errorf("duplicates %d, discarded %d, concealed %d; want %d, 0, 0", st.PacketsDuplicated, st.PacketsDiscarded,
				st.ConcealedSamples, len(plain)/10)
		}
	})
	t.Run("a packet the decoder refuses is concealed", func(t *testing.T) {
		bad := append([][]byte{}, plain...)
		bad[100] = []byte{0xff, 0xff, 0xff} // code 3, 63 frames: invalid
		s := newSimulation(t)
		s.run(stream(bad, func(int) time.Duration { return base }), 3*time.Millisecond, 5*time.Second)
		s.checkInvariants()
		if st := s.stats(); st.DecodeErrors != 1 || st.ConcealedSamples != uint64(frameLen) || st.ConcealmentEvents != 1 {
			t.Errorf("decode errors %d, concealed %d in %d events; want 1, %d in 1", st.DecodeErrors, st.ConcealedSamples,
				st.ConcealmentEvents, frameLen)
		}
	})
	t.Run("a full buffer is flushed", func(t *testing.T) {
		// 5 s of packets at once: the first 200 are flushed when the 201st
		// comes, and playout starts from it.
		s := newSimulation(t)
		s.run(stream(plain, func(i int) time.Duration { return 6*time.Second - time.Duration(i)*FrameTime }), 0, 7*time.Second)
		s.checkInvariants()
		if st := s.stats(); st.PacketsDiscarded != maxBufferedPackets || st.JitterBufferEmittedCount == 0 {
			t.Errorf("discarded %d, emitted %d; want %d discarded", st.PacketsDiscarded, st.JitterBufferEmittedCount, maxBufferedPackets)
		}
	})
	t.Run("a timestamp jump forward is not concealed for hours", func(t *testing.T) {
		pkts := stream(plain, func(int) time.Duration { return base })
		for _, p := range pkts[100:] {
			p.pkt.Timestamp += 2e9
		}
		s := newSimulation(t)
		s.run(pkts, 3*time.Millisecond, time.Duration(len(plain))*FrameTime+base)
		s.checkInvariants()
		// The later packets wait until the buffer is 50 ms over its
		// target, then play: the jump costs that much concealment.
		st := s.stats()
		if limit := uint64(startDelayMs+targetLevelWindowMs/2+delayBucketMs) * samplesPerMs; st.ConcealedSamples == 0 ||
			st.ConcealedSamples > limit || st.PacketsDiscarded != 0 {
			t.Errorf("concealed %d samples, discarded %d; want some, at most %d, and none discarded", st.ConcealedSamples,
				st.PacketsDiscarded, limit)
		}
	})
	t.Run("a stream that restarts far behind starts over", func(t *testing.T) {
		pkts := stream(plain, func(int) time.Duration { return base })
		for _, p := range pkts[100:] {
			p.pkt.Timestamp -= 20 * SampleRate
		}
		s := newSimulation(t)
		s.run(pkts, 3*time.Millisecond, time.Duration(len(plain))*FrameTime+base)
		s.checkInvariants()
		st := s.stats()
		if st.PacketsDiscarded > 1 || st.JitterBufferEmittedCount < uint64((len(plain)-10)*frameLen) {
			t.Errorf("discarded %d, emitted %d of %d samples: the new stream was not played", st.PacketsDiscarded,
				st.JitterBufferEmittedCount, len(plain)*frameLen)
		}
	})
}

// The device model: synthesized audio only when a frame comes after the
// previous one ended, and the delay from pull to playout.
func TestDevice(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var d device
	at := t0
	for range 100 { // 1 s, each frame pulled when the device asks
		d.deliver(at, outFrame)
		at = d.next(at)
	}
	st := d.stats()
	// On time, a sample waits the device's buffer plus its place in the
	// frame: 10 ms + (0..479)/48000.
	wantDelay := 100 * (outFrame*deviceBuffer.Seconds() + float64(outFrame*(outFrame-1))/2/SampleRate)
	if st.SynthesizedSamplesEvents != 0 || st.TotalSamplesCount != 100*outFrame || math.Abs(st.TotalPlayoutDelay-wantDelay) > 1e-9 ||
		st.TotalSamplesDuration != 1 {
		t.Errorf("on time: %+v, want no synthesis, delay %v", st, wantDelay)
	}
	// 25 ms late: the device ran dry for 15 ms.
	d.deliver(at.Add(25*time.Millisecond), outFrame)
	at = d.next(at.Add(25 * time.Millisecond))
	d.deliver(at.Add(time.Millisecond), outFrame) // 1 ms late: within the buffer
	st = d.stats()
	if st.SynthesizedSamplesEvents != 1 || st.SynthesizedSamplesDuration != 0.015 || st.TotalSamplesDuration != 1.035 {
		t.Errorf("after a late frame: %+v, want 15 ms synthesized in 1 event, 1.035 s played", st)
	}
}

// Stretching a tone removes or repeats whole periods of it: no phase jump
// where the audio was cut.
func TestTimeStretchKeepsTone(t *testing.T) {
	for _, hz := range []float64{180, 440, 600, 1000} {
		x := tonePCM(hz, 40*samplesPerMs)
		out := make([]int16, len(x)+stretchMiddle)
		period := SampleRate / hz
		for _, tc := range []struct {
			name    string
			stretch func() int
			length  func(int) int
		}{
			{"accelerate", func() int { return accelerate(x, out, false) }, func(n int) int { return len(x) - n }},
			{"preemptive expand", func() int { return preemptiveExpand(x, out, 0) }, func(n int) int { return len(x) + n }},
		} {
			n := tc.stretch()
			periods := math.Round(float64(n) / period)
			if n == 0 || math.Abs(float64(n)-periods*period) > 1 {
				t.Errorf("%g Hz, %s: %d samples, not a whole number of periods of %.2f", hz, tc.name, n, period)
				continue
			}
			if a := ToneLevel(floats(out[:tc.length(n)]), SampleRate, hz); a < 0.49 {
				t.Errorf("%g Hz, %s: the tone at %.3f after the cut, want 0.5", hz, tc.name, a)
			}
		}
	}
}

func floats(pcm []int16) []float32 {
	f := make([]float32, len(pcm))
	for i, s := range pcm {
		f[i] = float32(s) / 32768
	}
	return f
}
