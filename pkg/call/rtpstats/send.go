package rtpstats

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// maxSentReports is how many of our sender reports are remembered, to
// match the far end's LSR (RFC 3550 §6.4.1) with when each left: enough for
// a few seconds of reports and lost answers.
const maxSentReports = 8

// minRateInterval is the shortest span between two receiver reports over
// which the outgoing rate is measured: two reports that arrive together
// (one delayed) say nothing about a rate.
const minRateInterval = 200 * time.Millisecond

// SendStream is the state of one stream we send.
type SendStream struct {
	ssrc      uint32
	clockRate uint32

	mu          sync.Mutex
	packets     uint64
	bytes       uint64
	headerBytes uint64
	sendDelay   time.Duration
	firstSeq    uint16
	lastTS      uint32    // the newest RTP timestamp sent,
	lastTSAt    time.Time // and when, for the sender report's RTP time
	lastSent    time.Time
	payloadType uint8
	nack        uint32 // feedback the far end sent about it
	pli, fir    uint32

	srs     [maxSentReports]sentReport
	srCount uint64

	// The far end's view, from its reception report blocks.
	lastBlock       rtcp.ReceptionReport
	haveBlock       bool
	remote          RemoteInbound
	rateAt          time.Time // when the previous block arrived,
	rateBytes       uint64    // and the bytes sent by then
	availableBitate float64
}

type sentReport struct {
	mid uint32 // the middle 32 bits of its NTP time, as LSR echoes them
	at  time.Time
}

// setClockRate learns the codec's clock rate, if the stream was made
// without one.
func (s *SendStream) setClockRate(rate uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clockRate == 0 && rate != 0 {
		s.clockRate = rate
	}
}

// Sent counts one RTP packet that pion's writer took at start and handed
// to the network by end (or, for a send path that bypasses pion, that was
// produced at start and written by end).
func (s *SendStream) Sent(h *rtp.Header, payload int, start, end time.Time) {
	header := h.MarshalSize()
	if h.Padding {
		header += int(h.PaddingSize)
	}
	s.mu.Lock()
	if s.packets == 0 {
		s.firstSeq = h.SequenceNumber
	}
	s.packets++
	s.bytes += uint64(payload)      //nolint:gosec // a length
	s.headerBytes += uint64(header) //nolint:gosec // a length
	s.sendDelay += end.Sub(start)
	// The first packet of each frame maps RTP time to real time for the
	// sender reports (the later ones of a frame left later, same stamp).
	if s.packets == 1 || h.Timestamp != s.lastTS {
		s.lastTS, s.lastTSAt = h.Timestamp, start
	}
	s.lastSent = end
	s.payloadType = h.PayloadType
	s.mu.Unlock()
}

// senderReport is the stream's sender report at now, once it sent a
// packet.
func (s *SendStream) senderReport(now time.Time) (*rtcp.SenderReport, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packets == 0 {
		return nil, false
	}
	ntp := toNTP(now)
	elapsed := int64(now.Sub(s.lastTSAt)) * int64(s.clockRate) / int64(time.Second)
	sr := &rtcp.SenderReport{
		SSRC:        s.ssrc,
		NTPTime:     ntp,
		RTPTime:     s.lastTS + uint32(elapsed), //nolint:gosec // RTP time wraps
		PacketCount: uint32(s.packets),          //nolint:gosec // wraps as RFC 3550 says
		OctetCount:  uint32(s.bytes),            //nolint:gosec // wraps as RFC 3550 says
	}
	s.srs[s.srCount%maxSentReports] = sentReport{mid: middle32(ntp), at: now}
	s.srCount++
	return sr, true
}

// receptionReport records the far end's report block about the stream,
// arrived at at: loss, jitter, and a round-trip time when it echoes one of
// our sender reports (RFC 3550 §6.4.1: arrival − LSR − DLSR, here measured
// on our own clock from when that report left).
func (s *SendStream) receptionReport(b rtcp.ReceptionReport, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.haveBlock && b == s.lastBlock {
		return // the same block, through another reader
	}
	s.lastBlock, s.haveBlock = b, true
	r := &s.remote
	r.ReportsReceived++
	r.PacketsLost = signed24(b.TotalLost)
	r.FractionLost = float64(b.FractionLost) / 256
	if s.clockRate > 0 {
		r.Jitter = float64(b.Jitter) / float64(s.clockRate)
	}
	r.ExtendedHighestSequence = b.LastSequenceNumber
	if s.packets > 0 {
		// The far end's extended numbers start from its first packet,
		// ours: expected is what it should have had by its highest.
		expected := int64(b.LastSequenceNumber) - int64(s.firstSeq) + 1
		r.PacketsReceived = uint64(max(expected-r.PacketsLost, 0)) //nolint:gosec // non-negative
	}
	if b.LastSenderReport != 0 {
		for k := range min(s.srCount, maxSentReports) {
			sr := s.srs[(s.srCount-1-k)%maxSentReports]
			if sr.mid != b.LastSenderReport {
				continue
			}
			rtt := at.Sub(sr.at) - fromCompact(b.Delay)
			// The far end's "held for" runs a hair ahead of our clock on
			// a fast path: the round trip is below what can be measured.
			rtt = max(rtt, 0)
			r.RoundTripTime = rtt
			r.TotalRoundTripTime += rtt
			r.RoundTripTimeMeasurements++
			break
		}
	}
	// What the path carried since the previous report: our sending rate
	// (RTP headers and payload) less the share the far end lost.
	sent := s.bytes + s.headerBytes
	if !s.rateAt.IsZero() {
		if dt := at.Sub(s.rateAt); dt >= minRateInterval {
			s.availableBitate = 8 * float64(sent-s.rateBytes) / dt.Seconds() * (1 - r.FractionLost)
			s.rateAt, s.rateBytes = at, sent
		}
	} else {
		s.rateAt, s.rateBytes = at, sent
	}
}

func (s *SendStream) feedback(kind int) {
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

// Stats returns the stream's figures.
func (s *SendStream) Stats() Outbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Outbound{
		SSRC:                     s.ssrc,
		PayloadType:              s.payloadType,
		ClockRate:                s.clockRate,
		PacketsSent:              s.packets,
		BytesSent:                s.bytes,
		HeaderBytesSent:          s.headerBytes,
		TotalPacketSendDelay:     s.sendDelay,
		LastPacketSent:           s.lastSent,
		NACKCount:                s.nack,
		PLICount:                 s.pli,
		FIRCount:                 s.fir,
		SenderReportsSent:        s.srCount,
		AvailableOutgoingBitrate: s.availableBitate,
		RemoteInbound:            s.remote,
	}
}

// signed24 reads RFC 3550's 24-bit two's complement cumulative loss.
func signed24(v uint32) int64 {
	v &= 0xffffff
	if v&0x800000 != 0 {
		return int64(v) - 0x1000000
	}
	return int64(v)
}
