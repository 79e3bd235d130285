//go:build linux

package main

import (
	"math"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/netlab"
)

// jitterPairs are, for one direction of a call, the jitter a stats file
// reported in each sample and the RFC 3550 jitter the link computed on the
// packets it delivered, at the same moment; ms.
type jitterPairs struct {
	reported, link []float64
}

// ratio is the median over the samples of the reported jitter over the
// link's. The median, because callstat takes a packet's arrival time
// after pion's socket read and SRTP, in a process: on a machine busy
// with other work a late wake-up of the receiving process reads as jitter
// for the samples that follow it (the link, at the kernel's side of the
// TUN device, does not see it), and the median is what most samples say.
func (p jitterPairs) ratio() float64 {
	var rs []float64
	for i := range p.reported {
		if p.link[i] > 0 {
			rs = append(rs, p.reported[i]/p.link[i])
		}
	}
	if len(rs) == 0 {
		return math.NaN()
	}
	return median(rs)
}

// rfcJitterPairs pairs the caller's figures with the link's series. The
// caller's inbound-rtp jitter is its own, at the sample's timestamp: the
// link's A->B series then. Its remote-inbound-rtp jitter is the one the
// answerer's last RTCP report carried, made when that report's sender
// report was (remote-outbound-rtp.remoteTimestamp, one clock on one host):
// the link's B->A series then.
func rfcJitterPairs(t *testing.T, ss [][]map[string]any, aToB, bToA map[uint32][]netlab.JitterSample) (inbound, remote jitterPairs) {
	t.Helper()
	at := func(ms float64) time.Time { return time.UnixMicro(int64(ms * 1000)) }
	for _, s := range ss {
		ts, _ := s[0]["timestamp"].(float64)
		for _, o := range s {
			ssrc, _ := o["ssrc"].(float64)
			j, ok := o["jitter"].(float64)
			if !ok {
				continue
			}
			switch o["type"] {
			case "inbound-rtp":
				if l, ok := netlab.JitterAt(aToB[uint32(ssrc)], at(ts)); ok {
					inbound.reported = append(inbound.reported, j*1000)
					inbound.link = append(inbound.link, l*1000)
				}
			case "remote-inbound-rtp":
				made, ok := field(s, "remote-outbound-rtp", "remoteTimestamp")
				if !ok {
					continue
				}
				if l, ok := netlab.JitterAt(bToA[uint32(ssrc)], at(made)); ok {
					remote.reported = append(remote.reported, j*1000)
					remote.link = append(remote.link, l*1000)
				}
			}
		}
	}
	return inbound, remote
}
