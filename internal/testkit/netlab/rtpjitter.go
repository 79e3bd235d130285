//go:build linux

package netlab

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"sort"
	"sync"
	"time"
)

// The userspace link can measure what it does to the media: for every RTP
// stream it forwards, RFC 3550's interarrival jitter (§6.4.1, A.8)
// computed on the RTP headers (SRTP leaves them in clear) at the moment
// the link hands each packet to the receiving side. This is the figure a
// receiver's statistics must report, computed without any of the
// receiver's code.

// JitterSample is a stream's jitter right after the link delivered one of
// its packets.
type JitterSample struct {
	At     time.Time
	Jitter float64 // seconds
}

// rtpJitter is one direction's jitter, per SSRC.
type rtpJitter struct {
	clock float64 // RTP timestamp units per second

	mu      sync.Mutex
	streams map[uint32]*jitterStream
}

type jitterStream struct {
	lastAt time.Time
	lastTS uint32
	j      float64 // timestamp units
	series []JitterSample
}

// NewUserspace builds a lab under cond whose link is the userspace one
// whatever the kernel has, so that it can measure the RTP it forwards
// (RecordRTPJitter).
func NewUserspace(ctx context.Context, cond Condition) (*Lab, error) {
	return newLab(ctx, cond, false)
}

// RecordRTPJitter makes the userspace link compute the jitter of every RTP
// stream it forwards from now on, for a codec clock of clockRate (48000 for
// Opus, callstat's codec). It fails on a netem link, which the kernel runs.
func (l *Lab) RecordRTPJitter(clockRate float64) error {
	if l.wire == nil {
		return errors.New("netlab: only the userspace link measures jitter; build the lab with NewUserspace")
	}
	for _, d := range l.wire.dirs {
		d.jitter.Store(&rtpJitter{clock: clockRate, streams: map[uint32]*jitterStream{}})
	}
	return nil
}

// RTPJitter returns, for each direction, the jitter series of every RTP
// stream the link forwarded since RecordRTPJitter, by SSRC.
func (l *Lab) RTPJitter() (aToB, bToA map[uint32][]JitterSample) {
	if l.wire == nil {
		return nil, nil
	}
	return l.wire.dirs[0].jitter.Load().snapshot(), l.wire.dirs[1].jitter.Load().snapshot()
}

// JitterAt is the jitter in force at t in a series: the value after the
// last packet delivered at or before t; false before the first.
func JitterAt(series []JitterSample, t time.Time) (float64, bool) {
	k := sort.Search(len(series), func(i int) bool { return series[i].At.After(t) })
	if k == 0 {
		return 0, false
	}
	return series[k-1].Jitter, true
}

// forwarded takes one IP packet the link just delivered at at.
func (r *rtpJitter) forwarded(ip []byte, at time.Time) {
	if r == nil || !isRTP(ip) {
		return
	}
	rtp := udpPayload(ip)
	ts := binary.BigEndian.Uint32(rtp[4:8])
	ssrc := binary.BigEndian.Uint32(rtp[8:12])
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.streams[ssrc]
	if !ok {
		s = &jitterStream{}
		r.streams[ssrc] = s
	} else {
		// D(i-1, i) = (R_i − R_{i−1}) − (S_i − S_{i−1}), in timestamp
		// units, for this packet and the one delivered before it.
		d := at.Sub(s.lastAt).Seconds()*r.clock - float64(int32(ts-s.lastTS))
		s.j += (math.Abs(d) - s.j) / 16
	}
	s.lastAt, s.lastTS = at, ts
	s.series = append(s.series, JitterSample{At: at, Jitter: s.j / r.clock})
}

func (r *rtpJitter) snapshot() map[uint32][]JitterSample {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[uint32][]JitterSample, len(r.streams))
	for ssrc, s := range r.streams {
		out[ssrc] = append([]JitterSample(nil), s.series...)
	}
	return out
}

// udpPayload is the UDP payload of an IPv4 or IPv6 packet that isRTP
// accepted.
func udpPayload(ip []byte) []byte {
	if ip[0]>>4 == 4 {
		return ip[int(ip[0]&0x0f)*4+8:]
	}
	return ip[40+8:]
}
