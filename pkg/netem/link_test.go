package netem

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func testLink(cfg Link, seed uint64) *link {
	return newLink(cfg, rand.New(rand.NewPCG(seed, 1)), newDirStats(DefaultClockRate), func(*packet) error { return nil })
}

// lossRun draws n packets and returns the loss, percent, and the mean
// length of the runs of lost packets.
func lossRun(l *link, n int) (loss, meanBurst float64) {
	lost, bursts, run := 0, 0, 0
	for range n {
		if l.lose() {
			lost++
			run++
			continue
		}
		if run > 0 {
			bursts++
			run = 0
		}
	}
	if run > 0 {
		bursts++
	}
	if bursts == 0 {
		return 0, 0
	}
	return 100 * float64(lost) / float64(n), float64(lost) / float64(bursts)
}

// The loss models give what they promise over many packets: the mean loss
// and, for the bursty ones, the mean burst (1/R when Bad loses everything).
func TestLossModels(t *testing.T) {
	const n = 2_000_000
	tests := []struct {
		name      string
		cfg       Link
		loss, tol float64
		burst     float64 // mean run of losses; 0: not checked
	}{
		{"random 5%", Link{Loss: 5}, 5, 0.15, 1 / 0.95},
		{"random 30%", Link{Loss: 30}, 30, 0.3, 1 / 0.7},
		{"burst 3 at 5%", Link{Loss: 5, Burst: 3}, 5, 0.4, 3},
		{"burst 10 at 2%", Link{Loss: 2, Burst: 10}, 2, 0.4, 10},
		{"gemodel 1/25/100/0", Link{GE: &GilbertElliott{P: 1, R: 25, LossBad: 100}}, 100.0 / 26, 0.3, 4},
		{"gemodel with loss in both states", Link{GE: &GilbertElliott{P: 2, R: 20, LossBad: 60, LossGood: 1}}, 2.0/22*60 + 20.0/22*1, 0.4, 0},
		{"gemodel never leaving Good", Link{GE: &GilbertElliott{LossGood: 3}}, 3, 0.15, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.MeanLoss(); math.Abs(got-tt.loss) > 1e-9 {
				t.Errorf("MeanLoss() = %v, want %v", got, tt.loss)
			}
			loss, burst := lossRun(testLink(tt.cfg, 7), n)
			t.Logf("loss %.3f%%, mean burst %.2f", loss, burst)
			if math.Abs(loss-tt.loss) > tt.tol {
				t.Errorf("loss %.3f%% over %d packets, want %.3f ± %.2f", loss, n, tt.loss, tt.tol)
			}
			if tt.burst > 0 && math.Abs(burst-tt.burst) > 0.05*tt.burst {
				t.Errorf("mean burst %.3f packets, want %.3f ± 5%%", burst, tt.burst)
			}
		})
	}
}

// The same seed draws the same losses; another socket of the same
// emulator draws others.
func TestSeedReproducible(t *testing.T) {
	draw := func(r *rand.Rand) []bool {
		l := newLink(Link{Loss: 20, Burst: 2, Jitter: 5 * ms}, r, newDirStats(DefaultClockRate), nil)
		out := make([]bool, 500)
		for i := range out {
			out[i] = l.lose()
		}
		return out
	}
	e1, _ := New(Conditions{Seed: 99}, Options{})
	e2, _ := New(Conditions{Seed: 99}, Options{})
	a, b, other := draw(e1.rng(1, 0)), draw(e2.rng(1, 0)), draw(e1.rng(2, 0))
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draw %d differs with the same seed", i)
		}
		if a[i] == other[i] {
			same++
		}
	}
	if same == len(a) {
		t.Error("another socket drew exactly the same losses")
	}
}

// The token bucket: a full bucket lets one packet through at once, then
// each waits for its bytes at the rate, behind the ones ahead.
func TestShape(t *testing.T) {
	l := testLink(Link{Rate: 80_000}, 1) // 10,000 bytes/s
	t0 := l.tokAt
	tests := []struct {
		at   time.Duration // arrival, after t0
		size int
		want time.Duration // departure, after t0
	}{
		{0, 1000, 0},                            // bucket 1500 -> 500
		{0, 1000, 50 * ms},                      // 500 short: 50 ms
		{0, 1000, 150 * ms},                     // behind it: 100 ms more
		{500 * ms, 1000, 500 * ms},              // idle since 150 ms: bucket full again
		{500 * ms, 200, 500 * ms},               // 500 -> 300
		{600 * ms, 1500, 600*ms + 20*ms},        // 300 + 1000 refilled = 1300 (cap 1500), 200 short: 20 ms
		{600 * ms, 3000, 620*ms + 300*ms},       // larger than the bucket: its own bytes at the rate
		{2 * time.Second, 100, 2 * time.Second}, // long idle: the bucket is capped, not deeper
	}
	for i, tt := range tests {
		got := l.shape(t0.Add(tt.at), tt.size).Sub(t0)
		if d := got - tt.want; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("packet %d (%d bytes at %v): leaves at %v, want %v", i, tt.size, tt.at, got, tt.want)
		}
	}
}

// Jitter draws from the documented distributions and never makes a delay
// negative.
func TestDelayDistribution(t *testing.T) {
	const n = 100_000
	tests := []struct {
		name              string
		cfg               Link
		lo, hi            time.Duration
		mean, std, tolStd float64 // ms
	}{
		{"uniform", Link{Delay: 40 * ms, Jitter: 10 * ms}, 30 * ms, 50 * ms, 40, 10 / math.Sqrt(3), 0.1},
		{"normal", Link{Delay: 40 * ms, Jitter: 10 * ms, Distribution: Normal}, 0, time.Hour, 40, 10, 0.15},
		{"no jitter", Link{Delay: 25 * ms}, 25 * ms, 25 * ms, 25, 0, 0.001},
		{"jitter above delay: never negative", Link{Delay: 5 * ms, Jitter: 20 * ms}, 0, 25 * ms, -1, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := testLink(tt.cfg, 3)
			var sum, sq float64
			for range n {
				d := l.delay()
				if d < tt.lo || d > tt.hi {
					t.Fatalf("delay %v outside [%v, %v]", d, tt.lo, tt.hi)
				}
				v := float64(d) / float64(ms)
				sum += v
				sq += v * v
			}
			mean := sum / n
			std := math.Sqrt(sq/n - mean*mean)
			if tt.mean >= 0 && (math.Abs(mean-tt.mean) > 0.2 || math.Abs(std-tt.std) > tt.tolStd) {
				t.Errorf("mean %.3f ms, std %.3f ms; want %.3f and %.3f", mean, std, tt.mean, tt.std)
			}
		})
	}
}

func TestFIFO(t *testing.T) {
	var f fifo[int]
	next := 0
	for i := range 1000 {
		f.push(i)
		if i%3 == 0 {
			if v := f.pop(); v != next {
				t.Fatalf("pop %d, want %d", v, next)
			}
			next++
		}
	}
	for f.len() > 0 {
		if v := f.pop(); v != next {
			t.Fatalf("pop %d, want %d", v, next)
		}
		next++
	}
	if next != 1000 || cap(f.items) > 2048 {
		t.Errorf("popped %d, capacity %d", next, cap(f.items))
	}
}

func TestClassify(t *testing.T) {
	rtp := make([]byte, 12)
	rtp[0], rtp[1] = 0x80, 111
	rtpMarker := append([]byte(nil), rtp...)
	rtpMarker[1] = 0x80 | 111
	tests := []struct {
		p    []byte
		want Kind
	}{
		{nil, KindOther},
		{[]byte{0x00, 0x01, 0, 0}, KindSTUN},
		{[]byte{0x01, 0x01}, KindSTUN},
		{[]byte{22, 0xfe, 0xfd}, KindDTLS},
		{[]byte{23, 0xfe, 0xfd}, KindDTLS},
		{rtp, KindRTP},
		{rtpMarker, KindRTP},
		{[]byte{0x80, 200, 0, 6}, KindRTCP},  // SR
		{[]byte{0x81, 201, 0, 7}, KindRTCP},  // RR
		{[]byte{0x80, 207, 0, 2}, KindRTCP},  // XR
		{[]byte{0x80, 111, 0, 1}, KindOther}, // too short for RTP
		{[]byte{0x40, 0, 0, 0}, KindOther},   // TURN channel data
		{[]byte{0xc0, 0, 0, 0}, KindOther},   // not version 2
	}
	for _, tt := range tests {
		if got := Classify(tt.p); got != tt.want {
			t.Errorf("Classify(% x) = %v, want %v", tt.p, got, tt.want)
		}
	}
	for k, want := range map[Kind]string{KindSTUN: "stun", KindDTLS: "dtls", KindRTP: "rtp", KindRTCP: "rtcp", KindOther: "other", 42: "Kind(42)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind %d: %q, want %q", k, got, want)
		}
	}
}

// The jitter estimator is RFC 3550's: a constant delay reads as none; a
// delay alternating by d converges on d.
func TestStreamJitter(t *testing.T) {
	tests := []struct {
		name  string
		extra func(i int) time.Duration // delay of packet i
		want  time.Duration
	}{
		{"constant delay", func(int) time.Duration { return 30 * ms }, 0},
		{"alternating by 4 ms", func(i int) time.Duration { return time.Duration(i%2) * 4 * ms }, 4 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s streamState
			t0 := time.Unix(1000, 0)
			ts := uint32(math.MaxUint32 - 960*10) // wraps during the run
			for i := range 500 {
				s.deliver(ts, t0.Add(time.Duration(i)*20*ms+tt.extra(i)), DefaultClockRate)
				ts += 960
			}
			got := time.Duration(s.jitter * float64(time.Second))
			if d := got - tt.want; d < -50*time.Microsecond || d > 50*time.Microsecond {
				t.Errorf("jitter %v, want %v", got, tt.want)
			}
		})
	}
}
