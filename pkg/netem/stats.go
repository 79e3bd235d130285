package netem

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Kind is what a packet carries, told apart as RFC 7983 does for packets
// that share one port in WebRTC.
type Kind uint8

const (
	KindSTUN  Kind = iota // ICE connectivity and consent checks
	KindDTLS              // the DTLS handshake and alerts
	KindRTP               // media (SRTP keeps the RTP header in clear)
	KindRTCP              // reports (SRTCP), told from RTP by RFC 5761's payload types
	KindOther             // anything else (TURN channel data, ZRTP, ...)
	KindCount
)

func (k Kind) String() string {
	switch k {
	case KindSTUN:
		return "stun"
	case KindDTLS:
		return "dtls"
	case KindRTP:
		return "rtp"
	case KindRTCP:
		return "rtcp"
	case KindOther:
		return "other"
	default:
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
}

// Classify tells what a UDP payload is by its first bytes (RFC 7983 §7,
// RFC 5761 §4).
func Classify(p []byte) Kind {
	if len(p) == 0 {
		return KindOther
	}
	switch b := p[0]; {
	case b <= 3:
		return KindSTUN
	case b >= 20 && b <= 63:
		return KindDTLS
	case b >= 128 && b <= 191:
		if len(p) >= 2 && p[1] >= 192 && p[1] <= 223 {
			return KindRTCP // payload types 64-95 with the marker bit set: RTCP 192-223
		}
		if len(p) >= 12 {
			return KindRTP
		}
	}
	return KindOther
}

// Counters count what a link did with packets. Once nothing is held,
// Packets + Duplicated = Lost + Overflow + Delivered + Discarded.
type Counters struct {
	Packets    uint64 // offered to the link
	Bytes      uint64 // their UDP payload bytes
	Lost       uint64 // dropped by the loss model
	Overflow   uint64 // dropped because the rate limit's queue (or MaxHeld) was full
	Duplicated uint64 // extra copies made (and queued)
	Delivered  uint64 // released when due: sent on (up) or handed to the reader (down), copies included
	Discarded  uint64 // still held when their socket closed
}

// Dropped is every packet the link dropped on purpose.
func (c Counters) Dropped() uint64 { return c.Lost + c.Overflow }

// DropPercent is the share of offered packets dropped, percent.
func (c Counters) DropPercent() float64 {
	if c.Packets == 0 {
		return 0
	}
	return 100 * float64(c.Dropped()) / float64(c.Packets)
}

// StreamStats is one RTP stream (by SSRC) through a link.
type StreamStats struct {
	SSRC uint32
	Counters
	// Jitter is RFC 3550's interarrival jitter (§6.4.1, A.8) of the
	// stream as the link delivered it: the RTP timestamps against the
	// delivery times, at the clock rate of Options.ClockRate, the first
	// copy of each packet only. On loopback it is what the receiver
	// measures, plus the receiver's own scheduling noise.
	Jitter time.Duration
}

// DirectionStats is what one direction did, over every socket.
type DirectionStats struct {
	Counters
	// Kinds splits the counters by what the packets carried.
	Kinds [KindCount]Counters
	// Streams are the RTP streams, by SSRC (at most maxStreams).
	Streams []StreamStats
	// Held is the total time delivered packets spent in the link (queue
	// and delay), MaxHeld the longest: Held/Delivered is the mean delay
	// added.
	Held, MaxHeld time.Duration
	// Failed are the delivered packets that went nowhere: a send that
	// failed (up: lost, as a send into a dead route is), or a reader
	// so far behind that MaxHeld packets already waited for it (down).
	Failed uint64
}

// MeanHeld is the mean time a delivered packet spent in the link.
func (d DirectionStats) MeanHeld() time.Duration {
	if d.Delivered == 0 {
		return 0
	}
	return d.Held / time.Duration(d.Delivered)
}

// Stream returns the stream with ssrc.
func (d DirectionStats) Stream(ssrc uint32) (StreamStats, bool) {
	for _, s := range d.Streams {
		if s.SSRC == ssrc {
			return s, true
		}
	}
	return StreamStats{}, false
}

// Stats is what the emulator did, per direction, since it was made.
type Stats struct {
	Up, Down DirectionStats
}

// maxStreams bounds the RTP streams tracked per direction: the far end
// chooses SSRCs, and memory must not grow with what it sends.
const maxStreams = 1024

// event is what happened to one packet, for the counters.
type event uint8

const (
	evOffered event = iota
	evLost
	evOverflow
	evDuplicated
	evDelivered
	evDiscarded
)

// meta is what the counters need to know about a packet.
type meta struct {
	kind    Kind
	size    int
	ssrc    uint32
	ts      uint32 // RTP timestamp
	arrived time.Time
	copy    bool // the duplicate, not the original
}

func metaOf(p []byte, now time.Time) meta {
	m := meta{kind: Classify(p), size: len(p), arrived: now}
	if m.kind == KindRTP {
		m.ts = binary.BigEndian.Uint32(p[4:8])
		m.ssrc = binary.BigEndian.Uint32(p[8:12])
	}
	return m
}

// dirStats collects one direction's counters.
type dirStats struct {
	clock float64 // RTP clock rate, Hz
	mu    sync.Mutex
	st    DirectionStats // Streams unused: see streams
	strm  map[uint32]*streamState
}

type streamState struct {
	c       Counters
	jitter  float64 // seconds
	lastAt  time.Time
	lastTS  uint32
	started bool
}

func newDirStats(clock uint32) *dirStats {
	return &dirStats{clock: float64(clock), strm: map[uint32]*streamState{}}
}

func bump(c *Counters, ev event, size int) {
	switch ev {
	case evOffered:
		c.Packets++
		c.Bytes += uint64(size)
	case evLost:
		c.Lost++
	case evOverflow:
		c.Overflow++
	case evDuplicated:
		c.Duplicated++
	case evDelivered:
		c.Delivered++
	case evDiscarded:
		c.Discarded++
	}
}

// count records ev for the packet m; at is the delivery time for
// evDelivered.
func (d *dirStats) count(m *meta, ev event, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	bump(&d.st.Counters, ev, m.size)
	bump(&d.st.Kinds[m.kind], ev, m.size)
	if ev == evDelivered {
		held := at.Sub(m.arrived)
		d.st.Held += held
		d.st.MaxHeld = max(d.st.MaxHeld, held)
	}
	if m.kind != KindRTP {
		return
	}
	s := d.strm[m.ssrc]
	if s == nil {
		if len(d.strm) >= maxStreams {
			return
		}
		s = &streamState{}
		d.strm[m.ssrc] = s
	}
	bump(&s.c, ev, m.size)
	if ev == evDelivered && !m.copy {
		s.deliver(m.ts, at, d.clock)
	}
}

// deliver updates the jitter with a packet of RTP timestamp ts delivered at
// at (RFC 3550 A.8): D is how much more (or less) the link took for this
// packet than for the one before, in seconds.
func (s *streamState) deliver(ts uint32, at time.Time, clock float64) {
	if s.started {
		dts := float64(int32(ts-s.lastTS)) / clock // wraps like the 32-bit timestamp
		d := math.Abs(at.Sub(s.lastAt).Seconds() - dts)
		s.jitter += (d - s.jitter) / 16
	}
	s.started, s.lastAt, s.lastTS = true, at, ts
}

func (d *dirStats) failed() {
	d.mu.Lock()
	d.st.Failed++
	d.mu.Unlock()
}

func (d *dirStats) snapshot() DirectionStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.st
	out.Streams = make([]StreamStats, 0, len(d.strm))
	for ssrc, s := range d.strm {
		out.Streams = append(out.Streams, StreamStats{SSRC: ssrc, Counters: s.c, Jitter: time.Duration(s.jitter * float64(time.Second))})
	}
	slices.SortFunc(out.Streams, func(a, b StreamStats) int {
		switch {
		case a.SSRC < b.SSRC:
			return -1
		case a.SSRC > b.SSRC:
			return 1
		}
		return 0
	})
	return out
}
