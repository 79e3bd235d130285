package rtpstats

import "time"

// Inbound is what a stream we receive measured: the W3C inbound-rtp
// figures, and remote-outbound-rtp's from the far end's sender reports.
type Inbound struct {
	SSRC        uint32
	PayloadType uint8  // of the latest packet
	ClockRate   uint32 // the codec's, as negotiated

	// Every packet that arrived (W3C packetsReceived: retransmissions and
	// repeats included).
	PacketsReceived uint64
	// RFC 3550 A.3: packets expected (from the extended sequence numbers)
	// less packets received; negative when packets repeat. It is the
	// cumulative loss our receiver reports carry.
	PacketsLost int64
	// Packets that arrived a second time (among the last 1024 sequence
	// numbers).
	PacketsDuplicated uint64
	// Packets the jitter buffer threw away (RecvStream.Discarded).
	PacketsDiscarded uint64
	// Payload bytes, and header and padding bytes (RFC 3550 §6.4.1).
	BytesReceived, HeaderBytesReceived uint64
	// RFC 3550 interarrival jitter in seconds; JitterUnits is the same in
	// the codec's timestamp units, as our receiver reports carry it (as an
	// integer).
	Jitter, JitterUnits float64
	// Zero before the first packet.
	LastPacketReceived time.Time
	// Forward error correction the decoder received and did not use
	// (RecvStream.FEC); FECCounted once a decoder counts it.
	FECPacketsReceived, FECPacketsDiscarded uint64
	FECCounted                              bool
	// Feedback we sent about the stream.
	NACKCount, PLICount, FIRCount uint32

	RemoteOutbound RemoteOutbound
}

// RemoteOutbound is the far end's view of a stream we receive, from its
// last RTCP sender report (zero before one arrived).
type RemoteOutbound struct {
	ReportsSent     uint64 // sender reports received
	PacketsSent     uint64
	BytesSent       uint64
	RemoteTimestamp time.Time // the report's NTP time, the far end's clock
	ReportReceived  time.Time // when it arrived, our clock
}

// Outbound is what a stream we send measured: the W3C outbound-rtp figures,
// and remote-inbound-rtp's from the far end's receiver reports.
type Outbound struct {
	SSRC        uint32
	PayloadType uint8 // of the latest packet
	ClockRate   uint32

	PacketsSent uint64
	// Payload bytes, and header and padding bytes.
	BytesSent, HeaderBytesSent uint64
	// The time packets spent between the interceptor and the network:
	// pion's SRTP protection and the write to the socket, summed.
	TotalPacketSendDelay time.Duration
	LastPacketSent       time.Time
	// Feedback the far end sent about the stream.
	NACKCount, PLICount, FIRCount uint32
	SenderReportsSent             uint64
	// Bits per second of RTP the path delivered between the far end's
	// last two reports: our sending rate less the share it reported lost.
	// Zero before two reports arrived.
	AvailableOutgoingBitrate float64

	RemoteInbound RemoteInbound
}

// RemoteInbound is the far end's view of a stream we send, from its last
// RTCP reception report block (zero before one arrived).
type RemoteInbound struct {
	ReportsReceived uint64
	// Derived from the extended highest sequence number and the loss, as
	// RTCP carries no count of packets received.
	PacketsReceived         uint64
	PacketsLost             int64
	FractionLost            float64 // of the far end's last interval, 0-1
	Jitter                  float64 // seconds
	ExtendedHighestSequence uint32
	// From the blocks that echo one of our sender reports.
	RoundTripTime             time.Duration // the latest
	TotalRoundTripTime        time.Duration
	RoundTripTimeMeasurements uint64
}
