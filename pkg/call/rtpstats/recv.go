package rtpstats

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// RFC 3550 appendix A.1's limits: a sequence number up to maxDropout
// ahead of the highest is a new packet (those in between are lost); up to
// maxMisorder behind it, a late or repeated one; anything else a jump
// that restarts the count only when the next packet follows it.
const (
	maxDropout  = 3000
	maxMisorder = 100
	seqMod      = 1 << 16
)

// windowBits is how many of the latest sequence numbers a stream
// remembers, to tell a repeated packet from a late one.
const (
	windowWords = 16
	windowBits  = windowWords * 64
)

// RecvStream is the state of one stream we receive.
type RecvStream struct {
	ssrc      uint32
	rate      uint32  // the codec's clock rate
	clockRate float64 // the same, for the jitter arithmetic

	mu sync.Mutex

	// RFC 3550 A.1 and A.3. cycles is the count of wraps times 2^16, as
	// there; ext* are extended sequence numbers (cycles + seq).
	started       bool
	maxSeq        uint16
	cycles        uint64
	baseSeq       uint64
	badSeq        uint32 // seqMod+1: none
	received      uint64 // valid packets since the count (re)started
	expectedPrior uint64
	receivedPrior uint64
	lostBefore    int64 // packets lost before the count restarted
	window        [windowWords]uint64
	windowTop     uint64 // the extended sequence number window[...] ends at

	// RFC 3550 A.8: the previous packet's arrival and RTP timestamp, and
	// the jitter in timestamp units.
	haveTransit bool
	lastArrival time.Time
	lastTS      uint32
	jitter      float64

	packets, bytes, headerBytes uint64
	duplicates                  uint64
	discarded                   uint64
	fecReceived, fecDiscarded   uint64
	fecKnown                    bool
	last                        time.Time
	payloadType                 uint8
	nack, pli, fir              uint32 // feedback we sent about it

	// The far end's last sender report.
	srCount   uint64
	srNTP     uint64
	srAt      time.Time
	srPackets uint32
	srOctets  uint32
}

// setClockRate learns the codec's clock rate, if the stream was made
// without one (by a receive path that asked for it before pion bound it).
func (s *RecvStream) setClockRate(rate uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rate == 0 && rate != 0 {
		s.rate, s.clockRate = rate, float64(rate)
	}
}

// Received counts one RTP packet, b, that arrived at at: its sizes, its
// sequence number (loss and duplicates) and its timestamp (jitter). A
// packet that is not RTP version 2, is too short for its own header or
// belongs to another SSRC is ignored. It does not keep b.
func (s *RecvStream) Received(b []byte, at time.Time) {
	if len(b) < 12 || b[0]>>6 != 2 || binary.BigEndian.Uint32(b[8:12]) != s.ssrc {
		return
	}
	header := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // extension: 4 bytes, then its length in words
		if len(b) < header+4 {
			return
		}
		header += 4 + 4*int(binary.BigEndian.Uint16(b[header+2:]))
	}
	padding := 0
	if b[0]&0x20 != 0 {
		padding = int(b[len(b)-1])
	}
	if header+padding > len(b) {
		return
	}
	seq := binary.BigEndian.Uint16(b[2:4])
	ts := binary.BigEndian.Uint32(b[4:8])

	s.mu.Lock()
	s.packets++
	s.bytes += uint64(len(b) - header - padding) //nolint:gosec // checked above
	s.headerBytes += uint64(header + padding)    //nolint:gosec // positive
	s.last = at
	s.payloadType = b[1] & 0x7f
	if s.updateSeq(seq) {
		s.updateJitter(ts, at)
	}
	s.mu.Unlock()
}

// initSeq starts the count at seq (A.1's init_seq).
func (s *RecvStream) initSeq(seq uint16) {
	s.baseSeq = uint64(seq)
	s.maxSeq = seq
	s.badSeq = seqMod + 1
	s.cycles = 0
	s.received = 0
	s.receivedPrior = 0
	s.expectedPrior = 0
	s.window = [windowWords]uint64{}
	s.windowTop = uint64(seq)
	s.haveTransit = false
}

// updateSeq is A.1's update_seq, without the probation: SRTP already
// vouches for every packet's origin, and libwebrtc has none either. It
// reports whether the packet counts; it also tells repeats from late
// packets over the last windowBits sequence numbers.
func (s *RecvStream) updateSeq(seq uint16) bool {
	if !s.started {
		s.started = true
		s.initSeq(seq)
		s.mark(uint64(seq))
		s.received++
		return true
	}
	udelta := seq - s.maxSeq
	switch {
	case udelta < maxDropout:
		// In order, with a permissible gap (or the newest again).
		if seq < s.maxSeq {
			s.cycles += seqMod
		}
		s.maxSeq = seq
		s.mark(s.cycles + uint64(seq))
	case uint32(udelta) <= seqMod-maxMisorder:
		// A very large jump. Two packets in sequence after it mean the
		// sender restarted its numbering: count again from there.
		if uint32(seq) != s.badSeq {
			s.badSeq = uint32(seq+1) % seqMod
			return false
		}
		s.lostBefore += s.lost()
		s.initSeq(seq)
		s.mark(uint64(seq))
	default:
		// Late or repeated. One from before the first packet (reordered
		// ahead of it) has no place in the window.
		if top, back := s.cycles+uint64(s.maxSeq), uint64(s.maxSeq-seq); back <= top {
			s.mark(top - back)
		}
	}
	s.received++
	return true
}

// mark notes that extended sequence number ext arrived, and counts a
// duplicate if it had arrived before.
func (s *RecvStream) mark(ext uint64) {
	if ext > s.windowTop {
		// Advance the window, forgetting what falls out of it.
		if ext-s.windowTop >= windowBits {
			s.window = [windowWords]uint64{}
		} else {
			for e := s.windowTop + 1; e < ext; e++ {
				s.window[(e/64)%windowWords] &^= 1 << (e % 64)
			}
			s.window[(ext/64)%windowWords] &^= 1 << (ext % 64)
		}
		s.windowTop = ext
	} else if s.windowTop-ext >= windowBits {
		return // too old to tell
	}
	word, bit := &s.window[(ext/64)%windowWords], uint64(1)<<(ext%64)
	if *word&bit != 0 {
		s.duplicates++
		return
	}
	*word |= bit
}

// updateJitter is A.8: D is the difference between the packet's spacing
// on arrival and at the sender, both in timestamp units, for this packet
// and the one that arrived before it (whatever their sequence numbers).
// Arrival times are kept as they are, not rounded to timestamp units as
// A.8's integer arithmetic does.
func (s *RecvStream) updateJitter(ts uint32, at time.Time) {
	if s.haveTransit && s.clockRate > 0 {
		d := float64(at.Sub(s.lastArrival))*s.clockRate/1e9 - float64(int32(ts-s.lastTS)) //nolint:gosec // wraps as intended
		if d < 0 {
			d = -d
		}
		s.jitter += (d - s.jitter) / 16
	}
	s.haveTransit, s.lastArrival, s.lastTS = true, at, ts
}

// lost is A.3's cumulative number of packets lost since the count
// (re)started: expected less received, negative when packets repeat.
func (s *RecvStream) lost() int64 {
	expected := s.cycles + uint64(s.maxSeq) - s.baseSeq + 1
	return int64(expected) - int64(s.received) //nolint:gosec // counts far below 2^63
}

// reportBlock is A.3's reception report about the stream, at now.
func (s *RecvStream) reportBlock(now time.Time) (rtcp.ReceptionReport, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || now.Sub(s.last) > receiveTimeout {
		return rtcp.ReceptionReport{}, false
	}
	extMax := s.cycles + uint64(s.maxSeq)
	expected := extMax - s.baseSeq + 1
	expectedInterval := expected - s.expectedPrior
	receivedInterval := s.received - s.receivedPrior
	s.expectedPrior, s.receivedPrior = expected, s.received
	lostInterval := int64(expectedInterval) - int64(receivedInterval) //nolint:gosec // small
	var fraction uint8
	if expectedInterval > 0 && lostInterval > 0 {
		fraction = uint8(min((lostInterval<<8)/int64(expectedInterval), 255)) //nolint:gosec // at most 255
	}
	// The cumulative count is a 24-bit signed number.
	lost := min(max(s.lostBefore+s.lost(), -0x800000), 0x7fffff)
	b := rtcp.ReceptionReport{
		SSRC:               s.ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(lost) & 0xffffff, //nolint:gosec // two's complement intended
		LastSequenceNumber: uint32(extMax),          //nolint:gosec // cycles wrap as in the RFC
		Jitter:             uint32(s.jitter),
	}
	if s.srCount > 0 {
		b.LastSenderReport = middle32(s.srNTP)
		b.Delay = toCompact(now.Sub(s.srAt))
	}
	return b, true
}

// senderReport records the far end's sender report, once.
func (s *RecvStream) senderReport(sr *rtcp.SenderReport, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srCount > 0 && sr.NTPTime == s.srNTP {
		return // the same report, through another reader
	}
	s.srCount++
	s.srNTP, s.srAt, s.srPackets, s.srOctets = sr.NTPTime, at, sr.PacketCount, sr.OctetCount
}

func (s *RecvStream) feedback(kind int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch kind {
	case feedbackNACK:
		s.nack++
	case feedbackPLI:
		s.pli++
	case feedbackFIR:
		s.fir++
	}
}

// Discarded counts packets the jitter buffer threw away, late or early
// (inbound-rtp.packetsDiscarded).
func (s *RecvStream) Discarded(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.discarded += uint64(n)
	s.mu.Unlock()
}

// FEC counts forward error correction the decoder received and, of that,
// what it did not use (inbound-rtp.fecPacketsReceived and
// fecPacketsDiscarded). For in-band FEC (Opus), a packet counts when the
// decoder looked at its FEC data. A decoder that handles FEC calls it
// once it starts, even with zeros: until then the counters are unknown,
// and the report leaves them out.
func (s *RecvStream) FEC(received, discarded int) {
	s.mu.Lock()
	s.fecKnown = true
	s.fecReceived += uint64(max(received, 0))
	s.fecDiscarded += uint64(max(discarded, 0))
	s.mu.Unlock()
}

// Stats returns the stream's figures.
func (s *RecvStream) Stats() Inbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := Inbound{
		SSRC:                s.ssrc,
		PayloadType:         s.payloadType,
		ClockRate:           s.rate,
		PacketsReceived:     s.packets,
		PacketsDuplicated:   s.duplicates,
		PacketsDiscarded:    s.discarded,
		BytesReceived:       s.bytes,
		HeaderBytesReceived: s.headerBytes,
		LastPacketReceived:  s.last,
		FECPacketsReceived:  s.fecReceived,
		FECPacketsDiscarded: s.fecDiscarded,
		FECCounted:          s.fecKnown,
		NACKCount:           s.nack,
		PLICount:            s.pli,
		FIRCount:            s.fir,
	}
	if s.started {
		in.PacketsLost = s.lostBefore + s.lost()
	}
	if s.clockRate > 0 {
		in.Jitter = s.jitter / s.clockRate
		in.JitterUnits = s.jitter
	}
	if s.srCount > 0 {
		in.RemoteOutbound = RemoteOutbound{
			ReportsSent:     s.srCount,
			PacketsSent:     uint64(s.srPackets),
			BytesSent:       uint64(s.srOctets),
			RemoteTimestamp: fromNTP(s.srNTP),
			ReportReceived:  s.srAt,
		}
	}
	return in
}
