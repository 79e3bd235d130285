package rtpstats

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/interceptor"
	pionreport "github.com/pion/interceptor/pkg/report"
	pionstats "github.com/pion/interceptor/pkg/stats"
	"github.com/pion/logging"
	"github.com/pion/rtp"
)

// The per-packet cost of the statistics, against what callstat ran before:
// pion's stats recorder and its RTCP report interceptors, which this
// package replaces (make bench, docs/BENCHMARKS.md). Each sub-benchmark is
// one packet through the interceptor chain, on the stream's reader or
// writer, as pion's track calls it.

// pionChain is what callstat registered before: pion's stats interceptor
// first, then its receiver and sender report interceptors.
func pionChain(b *testing.B, withReports bool) (interceptor.Interceptor, *pionstats.Interceptor) {
	b.Helper()
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	sf, err := pionstats.NewInterceptor(pionstats.WithLoggerFactory(quiet))
	if err != nil {
		b.Fatal(err)
	}
	var getter *pionstats.Interceptor
	sf.OnNewPeerConnection(func(_ string, g pionstats.Getter) { getter = g.(*pionstats.Interceptor) })
	st, err := sf.NewInterceptor("pc")
	if err != nil {
		b.Fatal(err)
	}
	chain := []interceptor.Interceptor{st}
	if withReports {
		rf, _ := pionreport.NewReceiverInterceptor(pionreport.ReceiverLog(quiet.NewLogger("report")))
		sndf, _ := pionreport.NewSenderInterceptor(pionreport.SenderLog(quiet.NewLogger("report")))
		r, _ := rf.NewInterceptor("pc")
		s, _ := sndf.NewInterceptor("pc")
		chain = append(chain, r, s)
	}
	return interceptor.NewChain(chain), getter
}

func ourChain(b *testing.B) interceptor.Interceptor {
	b.Helper()
	it, err := NewFactory().NewInterceptor("pc")
	if err != nil {
		b.Fatal(err)
	}
	return it
}

// packetSource hands out one audio packet per read, numbered in sequence.
type packetSource struct {
	pkt []byte
	seq uint16
}

func newPacketSource() *packetSource {
	return &packetSource{pkt: rtpBytes(sentPacket{seq: 0, ts: 0, payload: 80}, 0, true, 0)}
}

func (s *packetSource) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	s.seq++
	binary.BigEndian.PutUint16(s.pkt[2:], s.seq)
	binary.BigEndian.PutUint32(s.pkt[4:], uint32(s.seq)*frameTS)
	return copy(b, s.pkt), a, nil
}

func BenchmarkReceive(b *testing.B) {
	info := &interceptor.StreamInfo{SSRC: testSSRC, ClockRate: testRate, MimeType: "audio/opus"}
	run := func(b *testing.B, chain interceptor.Interceptor, ready func() bool) {
		defer func() { _ = chain.Close() }()
		r := chain.BindRemoteStream(info, newPacketSource())
		buf := make([]byte, 1500)
		// pion's recorder counts only once its goroutine has started it.
		for deadline := time.Now().Add(5 * time.Second); !ready(); {
			if _, _, err := r.Read(buf, nil); err != nil || time.Now().After(deadline) {
				b.Fatal("the recorder never started")
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := r.Read(buf, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("pion-recorder", func(b *testing.B) {
		chain, g := pionChain(b, false)
		run(b, chain, func() bool { s := g.Get(testSSRC); return s != nil && s.InboundRTPStreamStats.PacketsReceived > 0 })
	})
	b.Run("pion-recorder+reports", func(b *testing.B) {
		chain, g := pionChain(b, true)
		run(b, chain, func() bool { s := g.Get(testSSRC); return s != nil && s.InboundRTPStreamStats.PacketsReceived > 0 })
	})
	b.Run("callstat", func(b *testing.B) {
		run(b, ourChain(b), func() bool { return true })
	})
}

type discardWriter struct{}

func (discardWriter) Write(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
	return h.MarshalSize() + len(p), nil
}

func BenchmarkSend(b *testing.B) {
	info := &interceptor.StreamInfo{SSRC: testSSRC, ClockRate: testRate, MimeType: "audio/opus"}
	run := func(b *testing.B, chain interceptor.Interceptor, ready func() bool) {
		defer func() { _ = chain.Close() }()
		w := chain.BindLocalStream(info, discardWriter{})
		h := &rtp.Header{Version: 2, PayloadType: 111, SSRC: testSSRC}
		payload := make([]byte, 80)
		for deadline := time.Now().Add(5 * time.Second); !ready(); {
			if _, err := w.Write(h, payload, nil); err != nil || time.Now().After(deadline) {
				b.Fatal("the recorder never started")
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			h.SequenceNumber++
			h.Timestamp += frameTS
			if _, err := w.Write(h, payload, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("pion-recorder", func(b *testing.B) {
		chain, g := pionChain(b, false)
		run(b, chain, func() bool { s := g.Get(testSSRC); return s != nil && s.OutboundRTPStreamStats.PacketsSent > 0 })
	})
	b.Run("pion-recorder+reports", func(b *testing.B) {
		chain, g := pionChain(b, true)
		run(b, chain, func() bool { s := g.Get(testSSRC); return s != nil && s.OutboundRTPStreamStats.PacketsSent > 0 })
	})
	b.Run("callstat", func(b *testing.B) {
		run(b, ourChain(b), func() bool { return true })
	})
}
