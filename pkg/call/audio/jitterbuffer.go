package audio

import (
	"math"
	"time"
)

// The jitter buffer's packet store and its target delay, after libwebrtc's
// NetEq (modules/audio_coding/neteq): packet_buffer.cc, packet_arrival_
// history.cc, histogram.cc, underrun_optimizer.cc, reorder_optimizer.cc and
// delay_manager.cc, with NetEq's default configuration. NetEq works in
// fixed point and in 10 ms ticks of its playout clock; this works in
// floating point and real time. docs/audio.md lists the differences.
const (
	samplesPerMs = SampleRate / 1000

	// maxBufferedPackets is NetEq's max_packets_in_buffer: a full buffer
	// is flushed.
	maxBufferedPackets = 200
	// startDelayMs is NetEq's kStartDelayMs: the target delay until the
	// arrival statistics give one.
	startDelayMs = 80
	// arrivalWindow is NetEq's kPacketHistorySizeMs: packet arrivals are
	// compared with the fastest of the last 2 s of the stream.
	arrivalWindow = 2000 * samplesPerMs

	delayBuckets      = 100 // histograms cover 0..2 s
	delayBucketMs     = 20
	delayQuantile     = 0.95  // DelayManager::Config::quantile
	delayForget       = 0.983 // forget_factor
	startForgetWeight = 2     // start_forget_weight
	resampleInterval  = 500 * time.Millisecond
	reorderForget     = 0.9993 // reorder_forget_factor
	msPerLossPercent  = 20
)

// bufPacket is one packet waiting in the jitter buffer.
type bufPacket struct {
	ts      uint32 // RTP timestamp
	seq     uint16
	dur     int    // samples, 0 if the packet cannot be parsed
	fec     bool   // carries in-band FEC for the audio before it
	payload []byte // a copy: the reader reuses its buffer
	arrival time.Time
}

// before reports whether RTP timestamp a comes before b (serial number
// arithmetic, RFC 1982: timestamps wrap).
func before(a, b uint32) bool { return int32(a-b) < 0 }

// packetBuffer holds the packets not yet decoded, oldest timestamp first.
// Packets are recycled: a call allocates only while its buffer grows.
type packetBuffer struct {
	pkts []*bufPacket
	free []*bufPacket
}

func (b *packetBuffer) get() *bufPacket {
	if n := len(b.free); n > 0 {
		p := b.free[n-1]
		b.free = b.free[:n-1]
		return p
	}
	return &bufPacket{}
}

func (b *packetBuffer) release(p *bufPacket) { b.free = append(b.free, p) }

func (b *packetBuffer) len() int { return len(b.pkts) }

// insert puts p in timestamp order. A packet with the timestamp of one
// already buffered is a duplicate: it is not inserted and false returned
// (the caller releases it).
func (b *packetBuffer) insert(p *bufPacket) bool {
	i := len(b.pkts) // packets come mostly in order: search from the back
	for i > 0 && before(p.ts, b.pkts[i-1].ts) {
		i--
	}
	if i > 0 && b.pkts[i-1].ts == p.ts {
		return false
	}
	b.pkts = append(b.pkts, nil)
	copy(b.pkts[i+1:], b.pkts[i:])
	b.pkts[i] = p
	return true
}

func (b *packetBuffer) first() *bufPacket {
	if len(b.pkts) == 0 {
		return nil
	}
	return b.pkts[0]
}

func (b *packetBuffer) last() *bufPacket { return b.pkts[len(b.pkts)-1] }

// pop removes the first packet; the caller releases it.
func (b *packetBuffer) pop() *bufPacket {
	p := b.pkts[0]
	copy(b.pkts, b.pkts[1:])
	b.pkts[len(b.pkts)-1] = nil
	b.pkts = b.pkts[:len(b.pkts)-1]
	return p
}

// flush drops every packet and returns how many there were.
func (b *packetBuffer) flush() int {
	n := len(b.pkts)
	for _, p := range b.pkts {
		b.release(p)
	}
	clear(b.pkts)
	b.pkts = b.pkts[:0]
	return n
}

// spanWait is NetEq's span_samples_wait_time: the timestamps the buffer
// spans plus how long its newest packet has waited, in samples.
func (b *packetBuffer) spanWait(now time.Time) int {
	if len(b.pkts) == 0 {
		return 0
	}
	first, last := b.pkts[0], b.last()
	return int(last.ts-first.ts) + int(now.Sub(last.arrival)/(time.Millisecond/samplesPerMs))
}

// unwrapper extends RTP timestamps to 64 bits.
type unwrapper struct {
	last  int64
	valid bool
}

func (u *unwrapper) peek(ts uint32) int64 {
	if !u.valid {
		return int64(ts)
	}
	return u.last + int64(int32(ts-uint32(u.last)))
}

func (u *unwrapper) unwrap(ts uint32) int64 {
	v := u.peek(ts)
	u.last, u.valid = v, true
	return v
}

// arrival is one packet in the arrival history: its unwrapped timestamp
// and arrival time, both in samples.
type arrival struct {
	ts, at int64
	length int
}

// transit orders arrivals as NetEq's PacketArrival comparisons do: by
// arrival time minus timestamp.
func (a arrival) transit() int64 { return a.at - a.ts }

// arrivalHistory is NetEq's PacketArrivalHistory: the packets of the last
// 2 s of the stream, with the fastest and slowest transit among them
// (monotonic queues), from which a packet's relative arrival delay is
// measured: how much later than the fastest packet of the window it came,
// net of the timestamps between them.
type arrivalHistory struct {
	epoch  time.Time
	unwrap unwrapper
	pkts   []arrival // by timestamp
	minQ   []arrival
	maxQ   []arrival
}

func (h *arrivalHistory) reset() {
	h.unwrap = unwrapper{}
	h.pkts, h.minQ, h.maxQ = h.pkts[:0], h.minQ[:0], h.maxQ[:0]
}

func (h *arrivalHistory) samplesAt(t time.Time) int64 {
	if h.epoch.IsZero() {
		h.epoch = t
	}
	return int64(t.Sub(h.epoch) / (time.Millisecond / samplesPerMs))
}

// insert records a packet. It returns false for a packet outside the
// window or one already recorded (a duplicate), as NetEq's Insert does.
func (h *arrivalHistory) insert(ts uint32, at time.Time, length int) (inserted, duplicate bool) {
	a := arrival{ts: h.unwrap.unwrap(ts), at: h.samplesAt(at), length: length}
	if n := len(h.pkts); n > 0 && a.ts+arrivalWindow < h.pkts[n-1].ts {
		return false, false
	}
	i := len(h.pkts)
	for i > 0 && h.pkts[i-1].ts > a.ts {
		i--
	}
	// Contained in the packet before it (same start, or inside it): a
	// duplicate.
	if i > 0 && h.pkts[i-1].ts <= a.ts && h.pkts[i-1].ts+int64(h.pkts[i-1].length) >= a.ts+int64(a.length) {
		return false, true
	}
	h.pkts = append(h.pkts, arrival{})
	copy(h.pkts[i+1:], h.pkts[i:])
	h.pkts[i] = a
	if i != len(h.pkts)-1 {
		return true, false // reordered: not a candidate for the extremes
	}
	for len(h.pkts) > 0 && h.pkts[0].ts+arrivalWindow < a.ts {
		old := h.pkts[0]
		if len(h.minQ) > 0 && h.minQ[0] == old {
			h.minQ = h.minQ[1:]
		}
		if len(h.maxQ) > 0 && h.maxQ[0] == old {
			h.maxQ = h.maxQ[1:]
		}
		h.pkts = h.pkts[1:]
	}
	for len(h.minQ) > 0 && a.transit() <= h.minQ[len(h.minQ)-1].transit() {
		h.minQ = h.minQ[:len(h.minQ)-1]
	}
	for len(h.maxQ) > 0 && a.transit() >= h.maxQ[len(h.maxQ)-1].transit() {
		h.maxQ = h.maxQ[:len(h.maxQ)-1]
	}
	h.minQ = append(h.minQ, a)
	h.maxQ = append(h.maxQ, a)
	return true, false
}

func (h *arrivalHistory) size() int { return len(h.pkts) }

// delayOf is GetPacketArrivalDelayMs.
func (h *arrivalHistory) delayOf(a arrival) float64 {
	if len(h.minQ) == 0 {
		return 0
	}
	return max(0, float64(a.transit()-h.minQ[0].transit())/samplesPerMs)
}

// delayMs is GetDelayMs: the relative delay, in ms, of timestamp ts were
// it played (or had it arrived) at now.
func (h *arrivalHistory) delayMs(ts uint32, now time.Time) float64 {
	return h.delayOf(arrival{ts: h.unwrap.peek(ts), at: h.samplesAt(now)})
}

// maxDelayMs is GetMaxDelayMs: the largest relative delay in the window.
func (h *arrivalHistory) maxDelayMs() float64 {
	if len(h.maxQ) == 0 {
		return 0
	}
	return h.delayOf(h.maxQ[0])
}

// isNewest reports whether ts is the newest timestamp recorded.
func (h *arrivalHistory) isNewest(ts uint32) bool {
	return len(h.pkts) == 0 || h.unwrap.peek(ts) == h.pkts[len(h.pkts)-1].ts
}

// histogram is NetEq's Histogram, in floating point: a probability
// distribution over delay buckets, updated with a forgetting factor that
// starts at 0 (the first observations count fully) and grows to its
// steady value.
type histogram struct {
	buckets     [delayBuckets]float64
	forget      float64
	baseForget  float64
	startWeight float64
	adds        int
}

func newHistogram(forget, startWeight float64) histogram {
	h := histogram{baseForget: forget, startWeight: startWeight}
	h.reset()
	return h
}

// reset sets the exponentially decaying start distribution, 0.5^(i+1).
func (h *histogram) reset() {
	p := 0.5
	for i := range h.buckets {
		h.buckets[i] = p
		p /= 2
	}
	h.forget, h.adds = 0, 0
}

func (h *histogram) add(v int) {
	for i := range h.buckets {
		h.buckets[i] *= h.forget
	}
	h.buckets[v] += 1 - h.forget
	h.adds++
	if h.forget != h.baseForget {
		h.forget = max(0, min(h.baseForget, 1-h.startWeight/float64(h.adds+1)))
	}
}

// quantile is the first bucket where the probability of a larger value
// falls to 1-p or below.
func (h *histogram) quantile(p float64) int {
	i, sum := 0, 1-h.buckets[0]
	for sum > 1-p && i < delayBuckets-1 {
		i++
		sum -= h.buckets[i]
	}
	return i
}

// delayManager is NetEq's DelayManager with its UnderrunOptimizer (the
// 95th percentile of the relative arrival delay, taken as the largest of
// each 500 ms) and ReorderOptimizer (the delay that minimises added delay
// plus 20 ms per percent of reordered packets that would come too late).
type delayManager struct {
	underrun      histogram
	intervalStart time.Time
	intervalMax   int
	underrunMs    int // 0 until the first interval ended
	reorder       histogram
	reorderMs     int
	targetMs      int
}

func newDelayManager() delayManager {
	return delayManager{
		underrun: newHistogram(delayForget, startForgetWeight),
		reorder:  newHistogram(reorderForget, startForgetWeight),
		targetMs: startDelayMs,
	}
}

// update takes one packet's relative arrival delay.
func (d *delayManager) update(delayMs float64, reordered bool, now time.Time) {
	ms := int(delayMs)
	if !reordered {
		if d.intervalStart.IsZero() {
			d.intervalStart = now
		}
		if now.Sub(d.intervalStart) > resampleInterval {
			if i := d.intervalMax / delayBucketMs; i < delayBuckets {
				d.underrun.add(i)
			}
			d.underrunMs = (1 + d.underrun.quantile(delayQuantile)) * delayBucketMs
			d.intervalStart, d.intervalMax = now, 0
		}
		d.intervalMax = max(d.intervalMax, ms)
	}
	d.targetMs = startDelayMs
	if d.underrunMs > 0 {
		d.targetMs = d.underrunMs
	}
	i := 0
	if reordered {
		i = ms / delayBucketMs
	}
	if i < delayBuckets {
		d.reorder.add(i)
	}
	d.reorderMs = (1 + d.reorderCost(d.targetMs)) * delayBucketMs
	d.targetMs = max(d.targetMs, d.reorderMs)
}

// reorderCost is ReorderOptimizer::MinimizeCostFunction.
func (d *delayManager) reorderCost(baseMs int) int {
	loss, best, bestCost := 1.0, 0, math.Inf(1)
	for i, b := range d.reorder.buckets {
		loss -= b
		cost := float64(max(0, i*delayBucketMs-baseMs)) + 100*msPerLossPercent*max(loss, 0)
		if cost < bestCost {
			best, bestCost = i, cost
		}
		if loss <= 1e-12 {
			break
		}
	}
	return best
}

// target is the target delay in ms, limited as NetEq's DelayConstraints
// limits it without a minimum or maximum set: to 75 % of a full buffer of
// packets of packetMs.
func (d *delayManager) target(packetMs int) int {
	return min(d.targetMs, 3*maxBufferedPackets*max(packetMs, 1)/4)
}
