package rtpstats

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const (
	testSSRC  = 0x11223344
	testRate  = 48000
	frameTime = 20 * time.Millisecond
	frameTS   = 960 // 20 ms at 48 kHz
)

// sentPacket is one packet of a test stream: what the sender put in its
// header (extended, before wrapping to the header's widths) and when it
// arrived.
type sentPacket struct {
	seq     int64 // extended sequence number
	ts      int64 // unwrapped RTP timestamp
	arrival time.Duration
	payload int
}

// rtpBytes builds the packet's bytes: a 12-byte header, csrc CSRCs, an
// optional one-word header extension, and padding.
func rtpBytes(p sentPacket, csrc int, ext bool, padding int) []byte {
	b := make([]byte, 12+4*csrc)
	b[0] = 2<<6 | byte(csrc)
	b[1] = 111
	binary.BigEndian.PutUint16(b[2:], uint16(p.seq))
	binary.BigEndian.PutUint32(b[4:], uint32(p.ts))
	binary.BigEndian.PutUint32(b[8:], testSSRC)
	if ext {
		b[0] |= 0x10
		b = append(b, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0)
	}
	b = append(b, make([]byte, p.payload)...)
	if padding > 0 {
		b[0] |= 0x20
		pad := make([]byte, padding)
		pad[padding-1] = byte(padding)
		b = append(b, pad...)
	}
	return b
}

// reference is RFC 3550 computed the plainest way, on the whole list of
// packets in arrival order: §6.4.1's jitter (J += (|D| − J)/16, D from each
// packet and the one that arrived before it), and A.3's loss (expected from
// the first packet's sequence number to the highest, less every packet
// received). The sequence numbers and timestamps are the sender's, never
// wrapped, so nothing of the code under test is reused.
type reference struct {
	jitter     float64 // seconds
	lost       int64
	duplicates int
	highest    int64
}

func referenceOf(pkts []sentPacket) reference {
	var r reference
	var j float64 // timestamp units
	seen := map[int64]bool{}
	for i, p := range pkts {
		if i > 0 {
			prev := pkts[i-1]
			d := (p.arrival-prev.arrival).Seconds()*testRate - float64(p.ts-prev.ts)
			j += (math.Abs(d) - j) / 16
		}
		if seen[p.seq] {
			r.duplicates++
		}
		seen[p.seq] = true
		r.highest = max(r.highest, p.seq)
	}
	r.jitter = j / testRate
	r.lost = r.highest - pkts[0].seq + 1 - int64(len(pkts))
	return r
}

// stream makes n packets sent every 20 ms from the given first sequence
// number and timestamp, each delayed by delay(i), drops those lose(i)
// says, repeats those dup(i) says, and orders the result by arrival.
func stream(n int, seq0, ts0 int64, delay func(i int) time.Duration, lose, dup func(i int) bool) []sentPacket {
	var pkts []sentPacket
	for i := range n {
		if lose != nil && lose(i) {
			continue
		}
		p := sentPacket{seq: seq0 + int64(i), ts: ts0 + int64(i)*frameTS, arrival: time.Duration(i)*frameTime + delay(i), payload: 60 + i%40}
		pkts = append(pkts, p)
		if dup != nil && dup(i) {
			d := p
			d.arrival += 3 * time.Millisecond
			pkts = append(pkts, d)
		}
	}
	slices.SortStableFunc(pkts, func(a, b sentPacket) int { return int(a.arrival - b.arrival) })
	return pkts
}

func TestJitterAndLossMatchRFC3550(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	uniform := func(spread time.Duration) func(int) time.Duration {
		return func(int) time.Duration {
			return 50*time.Millisecond + time.Duration((rng.Float64()*2-1)*float64(spread))
		}
	}
	for _, tc := range []struct {
		name       string
		seq0, ts0  int64
		delay      func(i int) time.Duration
		lose, dup  func(i int) bool
		wantJitter func(ref reference) bool // a sanity bound on the reference itself
	}{
		{name: "constant delay", seq0: 1000, ts0: 5000, delay: func(int) time.Duration { return 40 * time.Millisecond },
			wantJitter: func(r reference) bool { return r.jitter < 1e-9 }},
		{name: "uniform ±5 ms", seq0: 1, ts0: 0, delay: uniform(5 * time.Millisecond),
			// E|d1−d2| for two uniforms on ±a is 2a/3: 3.3 ms, in the mean.
			wantJitter: func(r reference) bool { return r.jitter > 0.002 && r.jitter < 0.005 }},
		{name: "uniform ±15 ms", seq0: 40000, ts0: 1 << 20, delay: uniform(15 * time.Millisecond)},
		{name: "uniform ±40 ms, reordered", seq0: 7, ts0: 77, delay: uniform(40 * time.Millisecond)},
		{name: "sawtooth 0-30 ms", seq0: 500, ts0: 0, delay: func(i int) time.Duration { return time.Duration(i%10) * 3 * time.Millisecond }},
		{name: "bursts every 100 ms", seq0: 9, ts0: 0, delay: func(i int) time.Duration {
			sent := time.Duration(i) * frameTime
			return (sent/(100*time.Millisecond)+1)*100*time.Millisecond - sent
		}},
		{name: "step 10 ms to 60 ms", seq0: 3, ts0: 0, delay: func(i int) time.Duration {
			if i < 250 {
				return 10 * time.Millisecond
			}
			return 60 * time.Millisecond
		}},
		{name: "sequence and timestamp wrap, loss, repeats", seq0: 65000, ts0: 1<<32 - 100*frameTS,
			delay: uniform(10 * time.Millisecond),
			lose:  func(i int) bool { return i%17 == 5 || (i >= 300 && i < 310) },
			dup:   func(i int) bool { return i%23 == 4 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkts := stream(1000, tc.seq0, tc.ts0, tc.delay, tc.lose, tc.dup)
			ref := referenceOf(pkts)
			if tc.wantJitter != nil && !tc.wantJitter(ref) {
				t.Fatalf("reference jitter %.6f s out of its expected range: the test is wrong", ref.jitter)
			}
			s := &RecvStream{ssrc: testSSRC, rate: testRate, clockRate: testRate}
			base := time.Now()
			var payload, header uint64
			for k, p := range pkts {
				csrc, ext, pad := k%3, k%5 == 0, 4*(k%2)
				b := rtpBytes(p, csrc, ext, pad)
				hl := 12 + 4*csrc + pad
				if ext {
					hl += 8
				}
				payload += uint64(p.payload)
				header += uint64(hl)
				s.Received(b, base.Add(p.arrival))
			}
			got := s.Stats()
			if math.Abs(got.Jitter-ref.jitter) > 1e-9+1e-9*ref.jitter {
				t.Errorf("jitter %.9f s, RFC 3550 says %.9f s", got.Jitter, ref.jitter)
			}
			if got.PacketsLost != ref.lost {
				t.Errorf("packetsLost %d, RFC 3550 says %d", got.PacketsLost, ref.lost)
			}
			if got.PacketsDuplicated != uint64(ref.duplicates) {
				t.Errorf("%d duplicates, sent %d", got.PacketsDuplicated, ref.duplicates)
			}
			if got.PacketsReceived != uint64(len(pkts)) || got.BytesReceived != payload || got.HeaderBytesReceived != header {
				t.Errorf("received %d packets, %d payload and %d header bytes; want %d, %d, %d",
					got.PacketsReceived, got.BytesReceived, got.HeaderBytesReceived, len(pkts), payload, header)
			}
			if want := base.Add(pkts[len(pkts)-1].arrival); !got.LastPacketReceived.Equal(want) {
				t.Errorf("last packet at %v, want %v", got.LastPacketReceived, want)
			}
			// The receiver report carries the same figures.
			b, ok := s.reportBlock(base.Add(pkts[len(pkts)-1].arrival))
			if !ok {
				t.Fatal("no report block")
			}
			if signed24(b.TotalLost) != ref.lost || b.Jitter != uint32(ref.jitter*testRate) ||
				b.LastSequenceNumber != uint32(ref.highest) {
				t.Errorf("report block lost %d, jitter %d, highest %#x; want %d, %d, %#x",
					signed24(b.TotalLost), b.Jitter, b.LastSequenceNumber, ref.lost, uint32(ref.jitter*testRate), uint32(ref.highest))
			}
		})
	}
}

// pionRecorderJitter is what pion/interceptor's stats recorder computes
// (pkg/stats/stats_recorder.go): each arrival rebuilt from the previous
// packet's RTP timestamp. Kept here to show the difference the package
// exists for.
func pionRecorderJitter(pkts []sentPacket) float64 {
	var j float64
	var lastTransit int
	for i := 1; i < len(pkts); i++ {
		arrival := pkts[i-1].ts + int64((pkts[i].arrival-pkts[i-1].arrival).Seconds()*testRate)
		transit := int(arrival - pkts[i].ts)
		d := transit - lastTransit
		if d < 0 {
			d = -d
		}
		lastTransit = transit
		j += (float64(d)/testRate - j) / 16
	}
	return j
}

func TestPionRecorderJitterIsNotRFC3550(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pkts := stream(2000, 0, 0, func(int) time.Duration {
		return 40*time.Millisecond + time.Duration((rng.Float64()*2-1)*float64(15*time.Millisecond))
	}, nil, nil)
	rfc, pion := referenceOf(pkts).jitter, pionRecorderJitter(pkts)
	t.Logf("uniform ±15 ms: RFC 3550 jitter %.2f ms, pion's recorder %.2f ms (%.2fx)", rfc*1000, pion*1000, pion/rfc)
	if pion/rfc < 1.2 {
		t.Errorf("pion's recorder gives %.2f ms against RFC 3550's %.2f ms: no longer wrong?", pion*1000, rfc*1000)
	}
}

func TestSequenceRestart(t *testing.T) {
	s := &RecvStream{ssrc: testSSRC, rate: testRate, clockRate: testRate}
	base := time.Now()
	// Every packet is sent and arrives on time, 20 ms apart.
	send := func(seq, slot int64) {
		s.Received(rtpBytes(sentPacket{seq: seq, ts: slot * frameTS, payload: 10}, 0, false, 0), base.Add(time.Duration(slot)*frameTime))
	}
	for seq := range int64(100) {
		if seq != 50 {
			send(seq, seq) // one lost
		}
	}
	// The sender restarts its numbering far away: the first packet there
	// is held back, the second confirms the jump (RFC 3550 A.1).
	send(30000, 100)
	if got := s.Stats().PacketsLost; got != 1 {
		t.Fatalf("after one jump %d lost, want the 1 before it", got)
	}
	for seq := int64(30001); seq < 30100; seq++ {
		send(seq, seq-30000+100)
	}
	got := s.Stats()
	// 200 sent, one lost: the packet that announced the jump is received
	// (W3C) but stays out of the loss count, which restarts after it.
	if got.PacketsLost != 1 || got.PacketsReceived != 199 {
		t.Errorf("lost %d, received %d; want 1 and 199", got.PacketsLost, got.PacketsReceived)
	}
	if got.Jitter > 1e-9 {
		t.Errorf("jitter %.6f s across a restart of a steady stream, want 0", got.Jitter)
	}
}

func TestFractionLostPerInterval(t *testing.T) {
	s := &RecvStream{ssrc: testSSRC, rate: testRate, clockRate: testRate}
	at := time.Now()
	seq := int64(0)
	interval := func(n, lose int) uint8 {
		for i := range n {
			if i%(n/max(lose, 1)) != 0 || lose == 0 {
				at = at.Add(frameTime)
				s.Received(rtpBytes(sentPacket{seq: seq, ts: seq * frameTS, payload: 10}, 0, false, 0), at)
			}
			seq++
		}
		b, _ := s.reportBlock(at)
		return b.FractionLost
	}
	// The first packet of each interval arrives, so each interval's
	// expected count runs from the previous highest to this one.
	if f := interval(100, 0); f != 0 {
		t.Errorf("fraction lost %d without loss", f)
	}
	// 10 of 100 lost, the first of them the interval's first packet:
	// the previous interval's highest is 99, this one's 199 (it arrived).
	if f := interval(100, 10); f != uint8(10*256/100) {
		t.Errorf("fraction lost %d for 10 of 100, want %d", f, 10*256/100)
	}
	// Repeats make the interval's loss negative: reported as 0.
	dup := rtpBytes(sentPacket{seq: seq - 1, ts: (seq - 1) * frameTS, payload: 10}, 0, false, 0)
	s.Received(dup, at)
	s.Received(dup, at)
	if b, _ := s.reportBlock(at); b.FractionLost != 0 {
		t.Errorf("fraction lost %d with only repeats, want 0", b.FractionLost)
	}
}

func TestReceivedIgnoresOtherPackets(t *testing.T) {
	s := &RecvStream{ssrc: testSSRC, rate: testRate, clockRate: testRate}
	good := rtpBytes(sentPacket{seq: 1, ts: 1, payload: 10}, 0, false, 0)
	other := slices.Clone(good)
	binary.BigEndian.PutUint32(other[8:], 99)
	version1 := slices.Clone(good)
	version1[0] = 1 << 6
	badExt := slices.Clone(good[:14])
	badExt[0] |= 0x10
	badPad := slices.Clone(good)
	badPad[0] |= 0x20
	badPad[len(badPad)-1] = 200
	for _, b := range [][]byte{good[:11], other, version1, badExt, badPad} {
		s.Received(b, time.Now())
	}
	if got := s.Stats(); got.PacketsReceived != 0 {
		t.Errorf("%d packets counted from malformed or foreign input", got.PacketsReceived)
	}
}
