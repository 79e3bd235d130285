package rtpstats

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5/test"
)

// clock is a manual clock for the interceptor.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rtcpSink keeps what the interceptor writes.
type rtcpSink struct {
	mu   sync.Mutex
	pkts [][]rtcp.Packet
}

func (s *rtcpSink) Write(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pkts = append(s.pkts, pkts)
	return len(pkts), nil
}

func (s *rtcpSink) last(t *testing.T) []rtcp.Packet {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pkts) == 0 {
		t.Fatal("no RTCP written")
	}
	return s.pkts[len(s.pkts)-1]
}

// rtcpSource hands the interceptor one marshalled compound packet per Read.
type rtcpSource struct{ next []byte }

func (s *rtcpSource) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	return copy(b, s.next), a, nil
}

func newTestInterceptor(t *testing.T, c *clock) (*Interceptor, *rtcpSink) {
	t.Helper()
	f := NewFactory(WithNow(c.now), WithInterval(time.Hour))
	var got *Interceptor
	f.OnNewPeerConnection(func(_ string, i *Interceptor) { got = i })
	it, err := f.NewInterceptor("pc")
	if err != nil {
		t.Fatal(err)
	}
	if it != got {
		t.Fatal("OnNewPeerConnection did not receive the interceptor")
	}
	sink := &rtcpSink{}
	got.BindRTCPWriter(sink)
	t.Cleanup(func() { _ = got.Close() })
	return got, sink
}

// TestReportsCarryTheStreamFigures runs both directions through pion's
// interceptor interfaces: our sender report, the far end's report block
// echoing it (round-trip time), its sender report (remote-outbound-rtp) and
// our receiver report block about its stream (the inbound-rtp figures).
func TestReportsCarryTheStreamFigures(t *testing.T) {
	defer test.CheckRoutines(t)()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	i, sink := newTestInterceptor(t, c)
	defer func() { _ = i.Close() }() // before the goroutine check

	const local, remote = 0xaaaa, testSSRC
	w := i.BindLocalStream(&interceptor.StreamInfo{SSRC: local, ClockRate: testRate},
		interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
			c.advance(50 * time.Microsecond) // SRTP and the socket
			return h.MarshalSize() + len(p), nil
		}))
	var next []byte
	r := i.BindRemoteStream(&interceptor.StreamInfo{SSRC: remote, ClockRate: testRate},
		interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			return copy(b, next), a, nil
		}))
	src := &rtcpSource{}
	rtcpIn := []interceptor.RTCPReader{i.BindRTCPReader(src), i.BindRTCPReader(src)} // sender's and receiver's

	buf := make([]byte, 1500)
	for k := range 50 {
		h := &rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(100 + k), Timestamp: uint32(k * frameTS), SSRC: local}
		if _, err := w.Write(h, make([]byte, 80), nil); err != nil {
			t.Fatal(err)
		}
		if k != 10 { // one of the far end's packets lost
			next = rtpBytes(sentPacket{seq: int64(k), ts: int64(k * frameTS), payload: 70}, 0, false, 0)
			if _, _, err := r.Read(buf, nil); err != nil {
				t.Fatal(err)
			}
		}
		c.advance(frameTime)
	}
	out, _ := i.Outbound(local)
	if out.PacketsSent != 50 || out.BytesSent != 50*80 || out.HeaderBytesSent != 50*12 ||
		out.TotalPacketSendDelay != 50*50*time.Microsecond {
		t.Fatalf("outbound %+v", out)
	}

	// Our report: a sender report with a block about the far end's stream.
	i.Report()
	pkts := sink.last(t)
	sr, ok := pkts[0].(*rtcp.SenderReport)
	if !ok || len(pkts) != 1 || sr.SSRC != local || sr.PacketCount != 50 || sr.OctetCount != 50*80 || len(sr.Reports) != 1 {
		t.Fatalf("our report: %v", pkts)
	}
	in, _ := i.Inbound(remote)
	if b := sr.Reports[0]; b.SSRC != remote || signed24(b.TotalLost) != in.PacketsLost || in.PacketsLost != 1 ||
		b.Jitter != uint32(in.JitterUnits) || b.LastSequenceNumber != 49 || b.LastSenderReport != 0 {
		t.Errorf("report block %+v for inbound %+v", b, in)
	}

	// The far end answers 30 ms later: it held our report 10 ms, so the
	// round trip is 20 ms. Its sender report comes in the same compound,
	// through both readers.
	c.advance(30 * time.Millisecond)
	farSR := &rtcp.SenderReport{SSRC: remote, NTPTime: toNTP(c.now().Add(-time.Hour)), PacketCount: 50, OctetCount: 3500,
		Reports: []rtcp.ReceptionReport{{SSRC: local, FractionLost: 64, TotalLost: 0xffffff, LastSequenceNumber: 149, Jitter: 480,
			LastSenderReport: middle32(sr.NTPTime), Delay: toCompact(10 * time.Millisecond)}}}
	raw, err := farSR.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	src.next = raw
	for _, rd := range rtcpIn {
		if _, _, err := rd.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	out, _ = i.Outbound(local)
	ri := out.RemoteInbound
	rttErr := ri.RoundTripTime - 20*time.Millisecond
	if ri.ReportsReceived != 1 || ri.RoundTripTimeMeasurements != 1 || rttErr < -50*time.Microsecond || rttErr > 50*time.Microsecond ||
		ri.PacketsLost != -1 || ri.FractionLost != 0.25 || ri.Jitter != 0.01 || ri.PacketsReceived != 51 {
		t.Errorf("remote-inbound %+v", ri)
	}
	in, _ = i.Inbound(remote)
	if ro := in.RemoteOutbound; ro.ReportsSent != 1 || ro.PacketsSent != 50 || ro.BytesSent != 3500 ||
		ro.RemoteTimestamp.Sub(c.now().Add(-time.Hour)).Abs() > time.Microsecond {
		t.Errorf("remote-outbound %+v", ro)
	}

	// Our next report echoes the far end's: LSR, and DLSR the time since.
	c.advance(500 * time.Millisecond)
	i.Report()
	b := sink.last(t)[0].(*rtcp.SenderReport).Reports[0]
	if b.LastSenderReport != middle32(farSR.NTPTime) || fromCompact(b.Delay) < 499*time.Millisecond || fromCompact(b.Delay) > 500*time.Millisecond {
		t.Errorf("LSR %#x DLSR %v, want %#x and 500 ms", b.LastSenderReport, fromCompact(b.Delay), middle32(farSR.NTPTime))
	}
}

func TestReceiverReportWithoutMedia(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	i, sink := newTestInterceptor(t, c)
	s := i.RecvStream(testSSRC, testRate)
	i.Report()
	if len(sink.pkts) != 0 {
		t.Fatalf("report %v before anything was sent or received", sink.pkts)
	}
	s.Received(rtpBytes(sentPacket{seq: 1, ts: 1, payload: 10}, 0, false, 0), c.now())
	i.Report()
	rr, ok := sink.last(t)[0].(*rtcp.ReceiverReport)
	if !ok || rr.SSRC != i.reporter || len(rr.Reports) != 1 || rr.Reports[0].SSRC != testSSRC {
		t.Fatalf("want a receiver report from our reporting SSRC, got %v", sink.last(t))
	}
	// A stream silent for longer than receiveTimeout gets no block.
	c.advance(receiveTimeout + time.Second)
	n := len(sink.pkts)
	i.Report()
	if len(sink.pkts) != n {
		t.Errorf("report %v about a stream silent for %v", sink.last(t), receiveTimeout+time.Second)
	}
}

func TestFeedbackCounted(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	i, _ := newTestInterceptor(t, c)
	send, recv := i.SendStream(1, testRate), i.RecvStream(2, testRate)
	w := i.BindRTCPWriter(&rtcpSink{})
	if _, err := w.Write([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 2}, &rtcp.PictureLossIndication{MediaSSRC: 2}}, nil); err != nil {
		t.Fatal(err)
	}
	i.ReceivedRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 1}, &rtcp.TransportLayerNack{MediaSSRC: 1},
		&rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: 1}}}}, c.now())
	if in := recv.Stats(); in.NACKCount != 1 || in.PLICount != 1 {
		t.Errorf("feedback sent: %d NACK, %d PLI; want 1, 1", in.NACKCount, in.PLICount)
	}
	if out := send.Stats(); out.NACKCount != 2 || out.FIRCount != 1 {
		t.Errorf("feedback received: %d NACK, %d FIR; want 2, 1", out.NACKCount, out.FIRCount)
	}
}

func TestDiscardedAndFEC(t *testing.T) {
	s := &RecvStream{ssrc: testSSRC, rate: testRate, clockRate: testRate}
	if s.Stats().FECCounted {
		t.Error("FEC counted before any decoder reported it")
	}
	s.Discarded(3)
	s.Discarded(-1)
	s.FEC(5, 2)
	if in := s.Stats(); in.PacketsDiscarded != 3 || in.FECPacketsReceived != 5 || in.FECPacketsDiscarded != 2 || !in.FECCounted {
		t.Errorf("%+v", in)
	}
}

func TestAvailableOutgoingBitrate(t *testing.T) {
	s := &SendStream{ssrc: 1, clockRate: testRate}
	at := time.Unix(1_800_000_000, 0)
	send := func(n int) {
		for range n {
			s.Sent(&rtp.Header{Version: 2, SequenceNumber: 1, Timestamp: 1}, 88, at, at)
		}
	}
	send(50)
	s.receptionReport(rtcp.ReceptionReport{SSRC: 1, LastSequenceNumber: 50}, at)
	if got := s.Stats().AvailableOutgoingBitrate; got != 0 {
		t.Fatalf("%v bits/s after one report, want none yet", got)
	}
	// 50 packets of 100 bytes in one second, a quarter lost: 30 kbit/s.
	send(50)
	at = at.Add(time.Second)
	s.receptionReport(rtcp.ReceptionReport{SSRC: 1, LastSequenceNumber: 100, FractionLost: 64}, at)
	if got := s.Stats().AvailableOutgoingBitrate; got != 30000 {
		t.Errorf("%v bits/s, want 30000", got)
	}
}

func TestNTP(t *testing.T) {
	at := time.Unix(1_800_000_000, 123456789)
	if got := fromNTP(toNTP(at)); got.Sub(at).Abs() > time.Nanosecond {
		t.Errorf("NTP round trip %v, want %v", got, at)
	}
	if got := fromCompact(toCompact(1500 * time.Millisecond)); got.Round(time.Millisecond) != 1500*time.Millisecond {
		t.Errorf("compact round trip %v", got)
	}
	if signed24(0xffffff) != -1 || signed24(0x7fffff) != 0x7fffff || signed24(0x800000) != -0x800000 {
		t.Error("signed24")
	}
}

func TestStreamLearnsClockRate(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	i, _ := newTestInterceptor(t, c)
	// A receive path may ask for its stream before pion binds it.
	early := i.RecvStream(testSSRC, 0)
	if s := i.RecvStream(testSSRC, testRate); s != early || s.Stats().ClockRate != testRate {
		t.Errorf("receive stream: same %v, clock rate %d", s == early, s.Stats().ClockRate)
	}
	if s := i.RecvStream(testSSRC, 8000); s.Stats().ClockRate != testRate {
		t.Errorf("clock rate changed to %d by a later call", s.Stats().ClockRate)
	}
	i.SendStream(1, 0)
	if out := i.SendStream(1, testRate).Stats(); out.ClockRate != testRate {
		t.Errorf("send stream clock rate %d", out.ClockRate)
	}
}
