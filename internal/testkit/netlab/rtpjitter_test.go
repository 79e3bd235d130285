//go:build linux

package netlab

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// ipRTP is an IPv4/UDP packet carrying an RTP header.
func ipRTP(ssrc uint32, seq uint16, ts uint32) []byte {
	b := make([]byte, 20+8+12+20)
	b[0], b[9] = 0x45, 17 // IPv4, 20-byte header, UDP
	rtp := b[28:]
	rtp[0], rtp[1] = 0x80, 111
	binary.BigEndian.PutUint16(rtp[2:], seq)
	binary.BigEndian.PutUint32(rtp[4:], ts)
	binary.BigEndian.PutUint32(rtp[8:], ssrc)
	return b
}

func TestRTPJitter(t *testing.T) {
	r := &rtpJitter{clock: 48000, streams: map[uint32]*jitterStream{}}
	base := time.Unix(1_800_000_000, 0)
	// Sent every 20 ms (960 units); delays 10, 14, 8, 8 ms: D is 4 ms,
	// 6 ms, 0 ms, in timestamp units 192, 288, 0.
	delays := []time.Duration{10, 14, 8, 8}
	want := 0.0
	for k, d := range []float64{0, 192, 288, 0} {
		if k > 0 {
			want += (d - want) / 16
		}
		r.forwarded(ipRTP(7, uint16(k), uint32(k*960)), base.Add(time.Duration(k)*20*time.Millisecond+delays[k]*time.Millisecond))
	}
	r.forwarded([]byte{0x45, 0, 0}, base) // not RTP: ignored
	r.forwarded(ipRTP(9, 0, 0), base)     // another stream
	got := r.snapshot()
	if len(got) != 2 || len(got[7]) != 4 || len(got[9]) != 1 {
		t.Fatalf("series: %v", got)
	}
	if j := got[7][3].Jitter; math.Abs(j-want/48000) > 1e-12 {
		t.Errorf("jitter %.9f s, want %.9f", j, want/48000)
	}
	if _, ok := JitterAt(got[7], base); ok {
		t.Error("a value before the first packet")
	}
	if j, ok := JitterAt(got[7], base.Add(45*time.Millisecond)); !ok || j != got[7][1].Jitter {
		t.Errorf("at 45 ms: %v, want the second packet's %v", j, got[7][1].Jitter)
	}
}
