// Package rtcpxr measures the round-trip time of a PeerConnection from the
// receiver's side with RTCP Extended Reports (RFC 3611): every interval the
// receiver sends a Receiver Reference Time block (RRTR, §4.4), the media
// sender answers with a DLRR block (§4.5) saying how long it held the RRTR,
// and the receiver subtracts that from the time the answer took.
//
// pion sends neither block, so without this the W3C stat
// remote-outbound-rtp.roundTripTime stays zero. Both ends must run the
// interceptor (callstat always does); against a peer that does not answer
// RRTR the measurement simply never happens.
package rtcpxr

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// DefaultInterval is how often RRTR blocks are sent: the RTCP report
// interval pion's report interceptors use.
const DefaultInterval = time.Second

// maxSent is how many unanswered RRTRs are remembered: enough to survive a
// few lost answers, small enough to bound memory.
const maxSent = 8

// RTT is the round-trip time measured for one remote media stream, named by
// the SSRC the far end sends its DLRR answers with (its media SSRC).
type RTT struct {
	RoundTripTime             time.Duration // the latest measurement
	TotalRoundTripTime        time.Duration // sum of every measurement
	RoundTripTimeMeasurements uint64
}

// Getter returns what a PeerConnection's interceptor measured.
type Getter interface {
	// Get returns the measurements for a remote stream, and whether any
	// exists.
	Get(remoteSSRC uint32) (RTT, bool)
}

// NewPeerConnectionCallback receives the Getter of each new PeerConnection.
type NewPeerConnectionCallback func(id string, g Getter)

// Factory builds one Interceptor per PeerConnection.
type Factory struct {
	interval time.Duration
	now      func() time.Time
	onNew    NewPeerConnectionCallback
}

// Option configures a Factory.
type Option func(*Factory)

// WithInterval sets how often RRTR blocks are sent.
func WithInterval(d time.Duration) Option { return func(f *Factory) { f.interval = d } }

// WithNow replaces the clock (tests).
func WithNow(now func() time.Time) Option { return func(f *Factory) { f.now = now } }

// NewFactory returns a Factory.
func NewFactory(opts ...Option) *Factory {
	f := &Factory{interval: DefaultInterval, now: time.Now}
	for _, o := range opts {
		o(f)
	}
	return f
}

// OnNewPeerConnection registers the callback that receives each new
// PeerConnection's Getter.
func (f *Factory) OnNewPeerConnection(cb NewPeerConnectionCallback) { f.onNew = cb }

// NewInterceptor implements interceptor.Factory.
func (f *Factory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i := &Interceptor{
		interval: f.interval,
		now:      f.now,
		closed:   make(chan struct{}),
		remote:   map[uint32]bool{},
		received: map[uint32]receivedRRTR{},
		rtts:     map[uint32]RTT{},
	}
	if f.onNew != nil {
		f.onNew(id, i)
	}
	return i, nil
}

// Interceptor sends RRTR blocks, answers the far end's with DLRR blocks,
// and turns the far end's DLRR answers into round-trip times.
type Interceptor struct {
	interceptor.NoOp
	interval time.Duration
	now      func() time.Time

	wg     sync.WaitGroup
	closed chan struct{}

	mu       sync.Mutex
	writer   interceptor.RTCPWriter
	local    uint32 // our media SSRC: the XR sender SSRC; 0 until one is bound
	remote   map[uint32]bool
	sent     []sentRRTR
	received map[uint32]receivedRRTR // far end's last RRTR, by its sender SSRC
	rtts     map[uint32]RTT
}

type sentRRTR struct {
	mid uint32 // middle 32 bits of the NTP timestamp, as echoed in LastRR
	at  time.Time
}

type receivedRRTR struct {
	mid uint32
	at  time.Time
}

// BindRTCPWriter starts the periodic sender on the PeerConnection's RTCP
// writer.
func (i *Interceptor) BindRTCPWriter(writer interceptor.RTCPWriter) interceptor.RTCPWriter {
	i.mu.Lock()
	defer i.mu.Unlock()
	select {
	case <-i.closed:
		return writer
	default:
	}
	if i.writer == nil {
		i.writer = writer
		i.wg.Add(1)
		go i.loop()
	}
	return writer
}

func (i *Interceptor) loop() {
	defer i.wg.Done()
	t := time.NewTicker(i.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			i.Tick()
		case <-i.closed:
			return
		}
	}
}

// Tick sends one XR packet: an RRTR when we receive media, and a DLRR
// answer to the far end's latest RRTR. The loop calls it every interval;
// tests call it directly.
func (i *Interceptor) Tick() {
	pkt, w := i.report()
	if pkt == nil || w == nil {
		return
	}
	// A failed write is a lost report: the next tick sends another.
	_, _ = w.Write([]rtcp.Packet{pkt}, interceptor.Attributes{})
}

func (i *Interceptor) report() (*rtcp.ExtendedReport, interceptor.RTCPWriter) {
	i.mu.Lock()
	defer i.mu.Unlock()
	// Without a media SSRC of our own the far end could not route its
	// answer back to any of our streams.
	if i.local == 0 {
		return nil, i.writer
	}
	now := i.now()
	xr := &rtcp.ExtendedReport{SenderSSRC: i.local}
	if len(i.remote) > 0 {
		ntp := toNTP(now)
		xr.Reports = append(xr.Reports, &rtcp.ReceiverReferenceTimeReportBlock{NTPTimestamp: ntp})
		i.sent = append(i.sent, sentRRTR{mid: middle32(ntp), at: now})
		if len(i.sent) > maxSent {
			i.sent = i.sent[len(i.sent)-maxSent:]
		}
	}
	if len(i.received) > 0 {
		dlrr := &rtcp.DLRRReportBlock{}
		for ssrc, r := range i.received {
			dlrr.Reports = append(dlrr.Reports, rtcp.DLRRReport{SSRC: ssrc, LastRR: r.mid, DLRR: toDLSR(now.Sub(r.at))})
		}
		// Each RRTR is answered once: a second answer would hold the
		// same LastRR and be discarded by the far end anyway.
		clear(i.received)
		xr.Reports = append(xr.Reports, dlrr)
	}
	if len(xr.Reports) == 0 {
		return nil, i.writer
	}
	return xr, i.writer
}

// BindLocalStream learns our media SSRC.
func (i *Interceptor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	i.mu.Lock()
	if i.local == 0 {
		i.local = info.SSRC
	}
	i.mu.Unlock()
	return writer
}

// UnbindLocalStream forgets our media SSRC.
func (i *Interceptor) UnbindLocalStream(info *interceptor.StreamInfo) {
	i.mu.Lock()
	if i.local == info.SSRC {
		i.local = 0
	}
	i.mu.Unlock()
}

// BindRemoteStream notes that we receive media, so RRTRs are worth sending.
func (i *Interceptor) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	i.mu.Lock()
	i.remote[info.SSRC] = true
	i.mu.Unlock()
	return reader
}

// UnbindRemoteStream forgets a remote stream.
func (i *Interceptor) UnbindRemoteStream(info *interceptor.StreamInfo) {
	i.mu.Lock()
	delete(i.remote, info.SSRC)
	i.mu.Unlock()
}

// BindRTCPReader watches incoming XR packets.
func (i *Interceptor) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		pkts, perr := attr.GetRTCPPackets(b[:n])
		if perr == nil {
			i.receive(pkts, i.now())
		}
		return n, attr, nil
	})
}

// receive records the far end's RRTRs and matches its DLRRs to ours. pion
// hands a packet to the reader of every stream it names, so the same XR
// may arrive twice: a DLRR matches an RRTR only once.
func (i *Interceptor) receive(pkts []rtcp.Packet, now time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, p := range pkts {
		xr, ok := p.(*rtcp.ExtendedReport)
		if !ok {
			continue
		}
		for _, block := range xr.Reports {
			switch b := block.(type) {
			case *rtcp.ReceiverReferenceTimeReportBlock:
				i.received[xr.SenderSSRC] = receivedRRTR{mid: middle32(b.NTPTimestamp), at: now}
			case *rtcp.DLRRReportBlock:
				for _, r := range b.Reports {
					if r.SSRC == i.local && i.local != 0 {
						i.answered(xr.SenderSSRC, r, now)
					}
				}
			}
		}
	}
}

func (i *Interceptor) answered(from uint32, r rtcp.DLRRReport, now time.Time) {
	for k, s := range i.sent {
		if s.mid != r.LastRR || r.LastRR == 0 {
			continue
		}
		i.sent = append(i.sent[:k], i.sent[k+1:]...)
		rtt := now.Sub(s.at) - fromDLSR(r.DLRR)
		if rtt < 0 {
			// The far end's clock for "held for" ran ahead of ours
			// (sub-millisecond on one host): the path is faster than
			// we can measure.
			rtt = 0
		}
		m := i.rtts[from]
		m.RoundTripTime = rtt
		m.TotalRoundTripTime += rtt
		m.RoundTripTimeMeasurements++
		i.rtts[from] = m
		return
	}
}

// Get implements Getter.
func (i *Interceptor) Get(remoteSSRC uint32) (RTT, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	r, ok := i.rtts[remoteSSRC]
	return r, ok
}

// Close stops the periodic sender and waits for it.
func (i *Interceptor) Close() error {
	i.mu.Lock()
	select {
	case <-i.closed:
	default:
		close(i.closed)
	}
	i.mu.Unlock()
	i.wg.Wait()
	return nil
}

// ntpEpochOffset is the number of seconds from 1900 to 1970.
const ntpEpochOffset = 2208988800

// toNTP converts t to a 64-bit NTP timestamp (32.32 fixed point seconds
// since 1900).
func toNTP(t time.Time) uint64 {
	secs := uint64(t.Unix()) + ntpEpochOffset                    //nolint:gosec // dates after 1970
	frac := (uint64(t.Nanosecond()) << 32) / uint64(time.Second) //nolint:gosec // 0 <= ns < 1e9
	return secs<<32 | frac
}

// middle32 is the part of an NTP timestamp that LastRR echoes.
func middle32(ntp uint64) uint32 { return uint32(ntp >> 16) } //nolint:gosec // truncation intended

// toDLSR expresses d in units of 1/65536 s, as DLRR carries it.
func toDLSR(d time.Duration) uint32 {
	if d < 0 {
		return 0
	}
	return uint32(d * 65536 / time.Second) //nolint:gosec // less than a day
}

func fromDLSR(v uint32) time.Duration {
	return time.Duration(uint64(v) * uint64(time.Second) / 65536) //nolint:gosec // fits
}
