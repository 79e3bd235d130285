package audio

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// BenchmarkPlayout is the receive side's cost per call: one op is 20 ms of
// a call, one Opus packet (speech, 32 kbit/s, in-band FEC, as a browser
// sends) into the jitter buffer and two 10 ms pulls by the playout clock,
// each decoding, concealing or stretching as the network asks and
// measuring the level. "cpu-%/call" is the share of one core a call costs
// (ns/op × 50 per second).
func BenchmarkPlayout(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		name  string
		delay func(i int) time.Duration // negative: lost
	}{
		{"steady", func(int) time.Duration { return base }},
		{"jitter 0-60 ms", func(int) time.Duration { return base + time.Duration(rng.Float64()*float64(60*time.Millisecond)) }},
		{"5% loss", func(int) time.Duration {
			if rng.Float64() < 0.05 {
				return -1
			}
			return base
		}},
	}
	payloads := encodePCM(b, loopPCM(bursty(), 10*SampleRate), true)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			// One 10 s cycle of arrivals, replayed with later timestamps.
			cycle := stream(payloads, bc.delay)
			arrivals := cycle[:0:0]
			for _, p := range cycle {
				if !p.lost {
					arrivals = append(arrivals, p)
				}
			}
			sort.SliceStable(arrivals, func(i, j int) bool { return arrivals[i].at < arrivals[j].at })
			cycleTime := time.Duration(len(payloads)) * FrameTime
			p, err := newPlayer()
			if err != nil {
				b.Fatal(err)
			}
			defer p.close()
			epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			frame := make([]int16, outFrame)
			var pkt rtp.Packet
			next, round := 0, 0
			now := 3 * time.Millisecond // the pull clock's phase
			b.ReportAllocs()
			for b.Loop() {
				for range 2 {
					for {
						a := arrivals[next]
						if at := time.Duration(round)*cycleTime + a.at; at > now {
							break
						}
						pkt = *a.pkt
						pkt.SequenceNumber += uint16(round * len(payloads))
						pkt.Timestamp += uint32(round * len(payloads) * frameLen)
						p.push(&pkt, epoch.Add(time.Duration(round)*cycleTime+a.at))
						if next++; next == len(arrivals) {
							next, round = 0, round+1
						}
					}
					p.pull(epoch.Add(now), frame)
					now += 10 * time.Millisecond
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*50/1e9*100, "cpu-%/call")
		})
	}
}

// BenchmarkReceiveCountOnly is the receive side's cost per packet in load
// runs (--decode=false): counting, no playout.
func BenchmarkReceiveCountOnly(b *testing.B) {
	m, err := NewReceiveMeter(ReceiveConfig{CountOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	payloads := encodePCM(b, loopPCM(bursty(), SampleRate), true)
	var i int
	b.ReportAllocs()
	for b.Loop() {
		m.Packet(packet(uint16(i), uint32(i*frameLen), payloads[i%len(payloads)]))
		i++
	}
}

// BenchmarkSourceLevel is the media-source level's cost per 20 ms frame
// handed to the encoder (once per process: the source is shared).
func BenchmarkSourceLevel(b *testing.B) {
	pcm := loopPCM(bursty(), SampleRate)
	f := make([]float32, len(pcm))
	for i, s := range pcm {
		f[i] = float32(s) / 32768
	}
	var m levelMeter
	var i int
	b.ReportAllocs()
	for b.Loop() {
		m.addFloat(f[i : i+frameLen])
		if i += frameLen; i == len(f) {
			i = 0
		}
	}
}
