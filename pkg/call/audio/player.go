package audio

import (
	"time"

	"github.com/pion/rtp"
)

// The playout path of a received stream: a jitter buffer in front of the
// Opus decoder, pulled 10 ms at a time by a playout clock, as a browser's
// audio device pulls libwebrtc's NetEq (NetEqImpl::GetAudio). Its decisions
// follow NetEq's DecisionLogic:
//
//   - the packet whose timestamp is due is decoded; if the playout delay is
//     above its target (plus the window's largest arrival delay and 20 ms)
//     a pitch period is removed (accelerate), below it one is repeated
//     (preemptive expand), at most every 50 ms;
//   - no packet due: the audio is concealed (libopus PLC, or the next
//     packet's in-band FEC when it carries the missing audio). Concealment
//     does not advance the stream's timeline: a packet that is only late is
//     played when it comes, later than planned (the delay grows);
//   - a later packet than the one due is played once as much audio was
//     concealed as is missing, or (after some concealment) once the buffer
//     holds 50 ms more than the target: the missing timestamps are skipped,
//     and a packet of them that comes after is discarded (packetsDiscarded);
//   - after a long concealment, decoding waits until the buffer holds half
//     the target, so as not to run dry again at once.
//
// The player is not safe for concurrent use: its owner (ReceiveMeter)
// locks.
const (
	outFrame = SampleRate / 100 // a pull: 10 ms
	plcStep  = SampleRate / 400 // libopus conceals in steps of 2.5 ms
	// oldPacketHorizon: a packet this far before the playout point is a
	// new stream, not a late packet (NetEq's five seconds).
	oldPacketHorizon = 5 * SampleRate
	// maxLostConceal bounds the audio of missing packets that is always
	// concealed in full before a later packet is played.
	maxLostConceal = SampleRate
	// minTimescalePulls is NetEq's kMinTimescaleInterval: pulls between two
	// time-stretching operations.
	minTimescalePulls   = 5
	targetLevelWindowMs = 100 // kTargetLevelWindowMs
	delayAdjustmentMs   = 20  // kDelayAdjustmentGranularityMs
	postponeDecodePct   = 50  // kPostponeDecodingLevel
)

type operation int

const (
	opNone           operation = iota // enough audio decoded already
	opNormal                          // decode the packet due
	opMerge                           // skip to a later packet
	opFEC                             // decode the missing audio from the next packet's FEC
	opExpand                          // conceal
	opExpandMerge                     // conceal the rest of a gap, then the later packet
	opAccelerate                      // remove a pitch period
	opFastAccelerate                  // remove several
	opPreemptive                      // repeat one
)

// playStats are the player's counters.
type playStats struct {
	totalSamples      uint64 // played out, concealment included
	concealed         uint64
	silentConcealed   uint64
	concealmentEvents uint64
	inserted          uint64 // preemptive expand
	removed           uint64 // accelerate
	emitted           uint64 // decoded samples that left the buffer
	// Seconds × samples, over the emitted samples.
	bufferDelay, targetDelay, minimumDelay, processingDelay float64

	decoded, decodeErrors uint64 // packets
	discarded, duplicates uint64
	fecPackets, fecUsed   uint64
}

type player struct {
	dec  *opusDecoder
	pcm  []int16 // decoder output
	tmp  []int16 // time-stretch output
	buf  packetBuffer
	hist arrivalHistory
	dm   delayManager
	fut  sampleQueue // decoded, not yet played: NetEq's sync buffer

	playing bool
	// playTS is the timestamp of the first sample not yet decoded (NetEq's
	// end timestamp). Concealment does not move it.
	playTS    uint32
	lastSeq   uint16 // sequence number of the last packet played (or recovered)
	frame     int    // samples of the last packet: the size of a missing one
	expanding bool   // the last audio produced was concealment
	// expanded counts the samples concealed since the last packet was
	// decoded (NetEq's generated noise samples).
	expanded        int
	lastDecodedPeak int16 // peak of the last decoded 10 ms
	lastConcealPeak int16 // peak of the last concealment
	timescaleWait   int

	level levelMeter
	st    playStats
	// clock reads a monotonic clock, to time the decoding: the pull's
	// time is given, but decoding takes its own.
	clock func() time.Duration
}

func newPlayer() (*player, error) {
	dec, err := newOpusDecoder()
	if err != nil {
		return nil, err
	}
	return &player{
		dec:   dec,
		pcm:   make([]int16, maxOpusFrame),
		tmp:   make([]int16, 0, 2*maxOpusFrame),
		dm:    newDelayManager(),
		frame: frameLen,
		clock: monotonic(),
	}, nil
}

func (p *player) close() { p.dec.close() }

// monotonic returns a clock of the time elapsed since it was made.
func monotonic() func() time.Duration {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}

// targetMs is the jitter buffer's target delay now.
func (p *player) targetMs() int { return p.dm.target(p.frame / samplesPerMs) }

// push takes a packet that arrived at at.
func (p *player) push(pkt *rtp.Packet, at time.Time) {
	payload := pkt.Payload
	if len(payload) == 0 {
		return // padding only
	}
	ts := pkt.Timestamp
	dur, err := packetSamples(payload)
	if err != nil {
		dur = 0 // decoded (and refused) in turn; its slot is concealed
	}
	if p.playing {
		if d := int32(ts - p.playTS); d < -oldPacketHorizon {
			p.restart() // a new stream, far behind the old one
		}
	}
	// NetEq learns the arrival of every packet, late ones included: they
	// are what raises the target delay.
	inserted, dup := p.hist.insert(ts, at, max(dur, 1))
	if inserted && p.hist.size() >= 2 {
		p.dm.update(p.hist.delayMs(ts, at), !p.hist.isNewest(ts), at)
	}
	if dup {
		p.st.duplicates++
		return
	}
	if p.playing && before(ts, p.playTS) {
		p.st.discarded++ // its audio was concealed and skipped
		return
	}
	if p.buf.len() >= maxBufferedPackets {
		p.st.discarded += uint64(p.buf.flush())
		if p.playing {
			p.playTS = ts // NetEq restarts from the packet after a flush
		}
	}
	b := p.buf.get()
	b.ts, b.seq, b.dur, b.arrival = ts, pkt.SequenceNumber, dur, at
	b.payload = append(b.payload[:0], payload...)
	b.fec = packetHasFEC(payload)
	if !p.buf.insert(b) {
		p.buf.release(b)
		p.st.duplicates++
		return
	}
	if b.fec {
		p.st.fecPackets++
	}
}

// restart forgets the stream: what follows starts over like a new one.
func (p *player) restart() {
	p.st.discarded += uint64(p.buf.flush())
	p.hist.reset()
	p.dm = newDelayManager()
	p.playing, p.expanding, p.expanded = false, false, 0
}

// ready reports whether playout can start: the buffer holds the start
// target delay (NetEq's 80 ms), or its first packet waited that long.
func (p *player) ready(now time.Time) bool {
	first := p.buf.first()
	if first == nil {
		return false
	}
	last := p.buf.last()
	span := int(last.ts-first.ts) + max(last.dur, 0)
	return span >= startDelayMs*samplesPerMs || now.Sub(first.arrival) >= startDelayMs*time.Millisecond
}

// pull plays out the next 10 ms into out (outFrame long). It returns false
// while playout has not started: nothing was played.
func (p *player) pull(now time.Time, out []int16) bool {
	if !p.playing {
		if !p.ready(now) {
			return false
		}
		p.playing = true
		p.playTS = p.buf.first().ts
		p.lastSeq = p.buf.first().seq - 1
	}
	for first := p.buf.first(); first != nil && before(first.ts, p.playTS); first = p.buf.first() {
		p.buf.release(p.buf.pop())
		p.st.discarded++
	}
	p.execute(p.decide(now), now)
	if n := p.fut.len(); n < outFrame { // no packet could fill the frame
		p.conceal(roundUp(outFrame-n, plcStep))
	}
	p.fut.pop(out)
	p.level.addInt16(out)
	p.st.totalSamples += outFrame
	if p.timescaleWait > 0 {
		p.timescaleWait--
	}
	return true
}

// decide is NetEq's DecisionLogic::GetDecision.
func (p *player) decide(now time.Time) operation {
	next := p.buf.first()
	var op operation
	switch {
	case next == nil:
		op = opExpand
	case p.postponeDecode(now):
		op = opExpand
	case next.ts == p.playTS:
		op = p.expectedAvailable(now)
	case p.fecCovers(next):
		op = opFEC
	default: // a later packet
		// NetEq plays it once as much audio was concealed as the
		// timestamps skip, or sooner when its buffer is 50 ms over the
		// target. callstat conceals the audio of the packets missing by
		// sequence number in full first, so that concealedSamples accounts
		// for every packet lost; the early skip remains for timestamp jumps
		// no missing packet explains.
		leap := int(next.ts - p.playTS)
		lost := min(leap, int(next.seq-p.lastSeq-1)*p.frame, maxLostConceal)
		tooEarly := leap > p.expanded &&
			(p.expanded < lost || p.buf.spanWait(now) <= (p.targetMs()+targetLevelWindowMs/2)*samplesPerMs)
		switch {
		case !tooEarly && p.expanding: // NetEq conceals at least once first
			op = opMerge
		case leap-p.expanded < outFrame-p.fut.len():
			// The gap ends within this frame: conceal only the rest of it
			// (NetEq conceals whole chunks, and merges the excess away).
			op = opExpandMerge
		default:
			op = opExpand // too early: conceal until it is its turn
		}
	}
	if p.fut.len() >= outFrame && (op == opNormal || op == opExpand || op == opFEC) {
		return opNone
	}
	return op
}

// postponeDecode is NetEq's PostponeDecode: after a concealment that faded
// the audio below half its level, keep concealing until the buffer holds
// half the target delay. (NetEq reads the fade from its expand's mute
// factor; libopus' PLC does not tell, so the fade is measured: the
// concealment's peak against the last decoded audio's.)
func (p *player) postponeDecode(now time.Time) bool {
	if !p.expanding {
		return false
	}
	if p.buf.spanWait(now) >= p.targetMs()*samplesPerMs*postponeDecodePct/100 {
		return false
	}
	return 2*int(p.lastConcealPeak) < int(p.lastDecodedPeak) || p.lastDecodedPeak == 0
}

// expectedAvailable is ExpectedPacketAvailable: play the packet due,
// stretching the audio when the playout delay is off its target.
func (p *player) expectedAvailable(now time.Time) operation {
	if p.expanding {
		return opNormal
	}
	delay := p.hist.delayMs(p.playTS-uint32(p.fut.len()), now)
	low := float64(p.targetMs())
	high := low + p.hist.maxDelayMs() + delayAdjustmentMs
	switch {
	case delay >= 4*high:
		return opFastAccelerate
	case p.timescaleWait > 0:
		return opNormal
	case delay >= high:
		return opAccelerate
	case delay < low:
		return opPreemptive
	}
	return opNormal
}

// fecCovers reports whether next carries the audio due in its FEC: it
// follows the missing packet directly and has LBRR data.
func (p *player) fecCovers(next *bufPacket) bool {
	return next.fec && next.ts-uint32(frameSamples(next.payload[0])) == p.playTS
}

func (p *player) execute(op operation, now time.Time) {
	switch op {
	case opNone:
	case opNormal:
		p.decodeUntil(outFrame, now)
	case opMerge:
		p.playTS = p.buf.first().ts
		p.decodeUntil(outFrame, now)
	case opFEC:
		p.decodeFEC(now)
		p.decodeUntil(outFrame, now)
	case opExpand:
		p.conceal(roundUp(outFrame-p.fut.len(), plcStep))
	case opExpandMerge:
		next := p.buf.first()
		p.conceal(roundUp(int(next.ts-p.playTS)-p.expanded, plcStep))
		p.playTS = next.ts
		p.decodeUntil(outFrame, now)
	case opAccelerate, opFastAccelerate, opPreemptive:
		old := p.fut.len()
		p.decodeUntil(stretchInput, now)
		p.stretch(op, old)
	}
}

// decodeUntil decodes the packets due, in order, until want samples are
// buffered or the next packet is not the one due.
func (p *player) decodeUntil(want int, now time.Time) {
	for p.fut.len() < want {
		next := p.buf.first()
		if next == nil || next.ts != p.playTS {
			return
		}
		p.buf.pop()
		p.decode(next, now)
		p.buf.release(next)
	}
}

// decode decodes one packet (or conceals it if the decoder refuses it) and
// accounts for its time in the buffer.
func (p *player) decode(b *bufPacket, now time.Time) {
	start := p.clock()
	n, err := p.dec.decode(b.payload, p.pcm)
	if err != nil || n == 0 {
		p.st.decodeErrors++
		size := b.dur
		if size <= 0 {
			size = p.frame
		}
		p.conceal(roundUp(size, plcStep))
		p.playTS = b.ts + uint32(size)
		p.lastSeq = b.seq
		return
	}
	p.st.decoded++
	p.emit(b, p.pcm[:n], now, p.clock()-start)
	p.frame = n
	p.playTS = b.ts + uint32(n)
	p.lastSeq = b.seq
}

// decodeFEC plays the audio due from the next packet's in-band FEC. The
// packet stays buffered: it is decoded itself next.
func (p *player) decodeFEC(now time.Time) {
	next := p.buf.first()
	size := frameSamples(next.payload[0])
	start := p.clock()
	n, err := p.dec.decodeFEC(next.payload, p.pcm[:size])
	if err != nil || n == 0 {
		p.conceal(roundUp(size, plcStep))
	} else {
		p.st.fecUsed++
		p.emit(next, p.pcm[:n], now, p.clock()-start)
	}
	p.playTS += uint32(size)
	p.lastSeq = next.seq - 1
}

// emit buffers decoded samples and adds them to the jitter buffer figures
// as NetEq's StatisticsCalculator::JitterBufferDelay does: every sample of
// a packet counts the time the packet waited.
func (p *player) emit(b *bufPacket, pcm []int16, now time.Time, decoding time.Duration) {
	p.fut.push(pcm)
	p.expanding, p.expanded = false, 0
	p.lastDecodedPeak = maxAbs16(pcm[max(0, len(pcm)-outFrame):])
	n := float64(len(pcm))
	wait := now.Sub(b.arrival).Seconds()
	target := float64(p.targetMs()) / 1000
	p.st.emitted += uint64(len(pcm))
	p.st.bufferDelay += wait * n
	p.st.targetDelay += target * n
	// No minimum or maximum delay is ever set: the target without limits
	// is the target (NetEq's UnlimitedTargetLevelMs).
	p.st.minimumDelay += target * n
	// W3C: from reception to decoded. NetEq stops at the packet's
	// extraction; the decoding itself is added here.
	p.st.processingDelay += (wait + decoding.Seconds()) * n
}

// conceal produces n samples (a multiple of 2.5 ms) of packet-loss
// concealment with libopus' PLC.
func (p *player) conceal(n int) {
	for n > 0 {
		k := min(n, maxOpusFrame)
		chunk := p.pcm[:k]
		if got, err := p.dec.decode(nil, chunk); err != nil || got < k {
			clear(chunk) // cannot happen with valid sizes; stay in step anyway
		}
		if !p.expanding {
			p.st.concealmentEvents++
		}
		p.expanding = true
		p.expanded += k
		p.st.concealed += uint64(k)
		peak := maxAbs16(chunk)
		if peak == 0 { // as NetEq counts codec PLC: all zeros is silence
			p.st.silentConcealed += uint64(k)
		}
		p.lastConcealPeak = peak
		p.fut.push(chunk)
		n -= k
	}
}

// stretch accelerates or preemptively expands the buffered audio.
func (p *player) stretch(op operation, old int) {
	x := p.fut.samples()
	if cap(p.tmp) < len(x)+stretchMiddle {
		p.tmp = make([]int16, 0, 2*(len(x)+stretchMiddle))
	}
	out := p.tmp[:len(x)+stretchMiddle]
	var changed int
	if op == opPreemptive {
		if changed = preemptiveExpand(x, out, old); changed > 0 {
			out = out[:len(x)+changed]
			p.st.inserted += uint64(changed)
		}
	} else if changed = accelerate(x, out, op == opFastAccelerate); changed > 0 {
		out = out[:len(x)-changed]
		p.st.removed += uint64(changed)
	}
	if changed == 0 {
		return
	}
	p.tmp = p.fut.replace(out)
	p.timescaleWait = minTimescalePulls
}

func roundUp(n, step int) int { return (n + step - 1) / step * step }

// sampleQueue holds decoded samples not yet played.
type sampleQueue struct {
	buf   []int16
	start int
}

func (q *sampleQueue) len() int         { return len(q.buf) - q.start }
func (q *sampleQueue) samples() []int16 { return q.buf[q.start:] }

func (q *sampleQueue) push(s []int16) {
	if q.start > 0 && len(q.buf)+len(s) > cap(q.buf) {
		n := copy(q.buf, q.buf[q.start:])
		q.buf, q.start = q.buf[:n], 0
	}
	q.buf = append(q.buf, s...)
}

// pop moves the first len(out) samples to out.
func (q *sampleQueue) pop(out []int16) {
	q.start += copy(out, q.buf[q.start:])
	if q.start == len(q.buf) {
		q.buf, q.start = q.buf[:0], 0
	}
}

// replace swaps the queue's contents for s and returns the old buffer for
// reuse.
func (q *sampleQueue) replace(s []int16) []int16 {
	old := q.buf[:0]
	q.buf, q.start = s, 0
	return old
}
