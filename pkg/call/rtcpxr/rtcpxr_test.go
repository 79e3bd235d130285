package rtcpxr

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// clock is a manual clock shared by both ends.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// end is one side of a call: its interceptor, what it wrote, and a reader
// fed by the test.
type end struct {
	i      *Interceptor
	out    [][]byte
	in     []byte
	reader interceptor.RTCPReader
}

func newEnd(t *testing.T, clk *clock, local, remote uint32) *end {
	t.Helper()
	f := NewFactory(WithInterval(time.Hour), WithNow(clk.now))
	var got Getter
	f.OnNewPeerConnection(func(_ string, g Getter) { got = g })
	it, err := f.NewInterceptor("pc")
	if err != nil {
		t.Fatal(err)
	}
	e := &end{i: it.(*Interceptor)}
	if got != e.i {
		t.Fatal("OnNewPeerConnection did not receive the interceptor")
	}
	e.i.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			t.Fatal(err)
		}
		e.out = append(e.out, b)
		return len(b), nil
	}))
	if local != 0 {
		e.i.BindLocalStream(&interceptor.StreamInfo{SSRC: local}, nil)
	}
	if remote != 0 {
		e.i.BindRemoteStream(&interceptor.StreamInfo{SSRC: remote}, nil)
	}
	e.reader = e.i.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, e.in), a, nil
	}))
	t.Cleanup(func() { _ = e.i.Close() })
	return e
}

// deliver hands every packet from written to the other end's reader.
func deliver(t *testing.T, from, to *end) {
	t.Helper()
	for _, b := range from.out {
		to.in = b
		buf := make([]byte, 1500)
		if _, _, err := to.reader.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	from.out = nil
}

func TestRoundTripTime(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	a := newEnd(t, clk, 111, 222)
	b := newEnd(t, clk, 222, 111)

	if _, ok := a.i.Get(222); ok {
		t.Fatal("a measurement exists before any report")
	}
	a.i.Tick() // RRTR
	clk.advance(50 * time.Millisecond)
	deliver(t, a, b)
	clk.advance(300 * time.Millisecond) // b holds it for 300 ms
	b.i.Tick()                          // DLRR (and b's own RRTR)
	clk.advance(50 * time.Millisecond)
	answer := b.out
	deliver(t, b, a)
	// pion delivers a packet once per stream it names: the second copy
	// must not count again.
	b.out = answer
	deliver(t, b, a)
	rtt, ok := a.i.Get(222)
	if !ok {
		t.Fatal("no round-trip time after an RRTR/DLRR exchange")
	}
	if d := rtt.RoundTripTime - 100*time.Millisecond; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("RoundTripTime = %s, want 100ms (400ms elapsed - 300ms held)", rtt.RoundTripTime)
	}
	if rtt.RoundTripTimeMeasurements != 1 || rtt.TotalRoundTripTime != rtt.RoundTripTime {
		t.Errorf("measurements = %d, total = %s", rtt.RoundTripTimeMeasurements, rtt.TotalRoundTripTime)
	}

	// Each RRTR is answered once.
	b.i.Tick()
	for _, pkt := range b.out {
		pkts, err := rtcp.Unmarshal(pkt)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			for _, blk := range p.(*rtcp.ExtendedReport).Reports {
				if _, isDLRR := blk.(*rtcp.DLRRReportBlock); isDLRR {
					t.Error("an RRTR was answered twice")
				}
			}
		}
	}
	b.out = nil

	// b measures too once a answers b's RRTR.
	clk.advance(20 * time.Millisecond)
	a.i.Tick()
	clk.advance(10 * time.Millisecond)
	deliver(t, a, b)
	if rtt, ok := b.i.Get(111); !ok || rtt.RoundTripTimeMeasurements != 1 {
		t.Errorf("b's measurement = %+v, %v", rtt, ok)
	}

	// A second exchange accumulates.
	deliver(t, b, a)
	clk.advance(10 * time.Millisecond)
	a.i.Tick()
	clk.advance(40 * time.Millisecond)
	deliver(t, a, b)
	clk.advance(5 * time.Millisecond)
	b.i.Tick()
	clk.advance(40 * time.Millisecond)
	deliver(t, b, a)
	rtt, _ = a.i.Get(222)
	if rtt.RoundTripTimeMeasurements != 2 {
		t.Fatalf("measurements = %d, want 2", rtt.RoundTripTimeMeasurements)
	}
	if d := rtt.RoundTripTime - 80*time.Millisecond; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("second RoundTripTime = %s, want 80ms", rtt.RoundTripTime)
	}
	if d := rtt.TotalRoundTripTime - 180*time.Millisecond; d < -2*time.Millisecond || d > 2*time.Millisecond {
		t.Errorf("TotalRoundTripTime = %s, want 180ms", rtt.TotalRoundTripTime)
	}
}

func TestNothingSentWithoutStreams(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	tests := []struct {
		name          string
		local, remote uint32
		wantPackets   int
	}{
		{"no local stream", 0, 222, 0},
		{"no remote stream and nothing to answer", 111, 0, 0},
		{"both", 111, 222, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnd(t, clk, tt.local, tt.remote)
			e.i.Tick()
			if len(e.out) != tt.wantPackets {
				t.Errorf("sent %d packets, want %d", len(e.out), tt.wantPackets)
			}
		})
	}
}

func TestNTPConversions(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 500_000_000, time.UTC)
	ntp := toNTP(ts)
	if secs := ntp >> 32; secs != uint64(ts.Unix())+ntpEpochOffset {
		t.Errorf("NTP seconds = %d", secs)
	}
	if frac := uint32(ntp); frac != 1<<31 {
		t.Errorf("NTP fraction of .5 s = %#x, want 0x80000000", frac)
	}
	if got := middle32(ntp); got != uint32(ntp>>16) {
		t.Errorf("middle32 = %#x", got)
	}
	for _, d := range []time.Duration{0, time.Millisecond, 300 * time.Millisecond, 5 * time.Second} {
		if back := fromDLSR(toDLSR(d)); back-d > 20*time.Microsecond || d-back > 20*time.Microsecond {
			t.Errorf("DLSR round trip of %s = %s", d, back)
		}
	}
	if toDLSR(-time.Second) != 0 {
		t.Error("a negative delay must encode as 0")
	}
}

func TestCloseStopsLoop(t *testing.T) {
	f := NewFactory(WithInterval(time.Millisecond))
	it, _ := f.NewInterceptor("pc")
	i := it.(*Interceptor)
	var mu sync.Mutex
	writes := 0
	i.BindLocalStream(&interceptor.StreamInfo{SSRC: 1}, nil)
	i.BindRemoteStream(&interceptor.StreamInfo{SSRC: 2}, nil)
	wrote := make(chan struct{}, 1)
	i.BindRTCPWriter(interceptor.RTCPWriterFunc(func([]rtcp.Packet, interceptor.Attributes) (int, error) {
		mu.Lock()
		writes++
		mu.Unlock()
		select {
		case wrote <- struct{}{}:
		default:
		}
		return 0, nil
	}))
	select {
	case <-wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop never sent a report")
	}
	if err := i.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := writes
	mu.Unlock()
	// Close waited for the loop: nothing is written afterwards.
	i.Tick() // direct ticks still work; the loop is what stopped
	mu.Lock()
	defer mu.Unlock()
	if writes != n+1 {
		t.Errorf("writes after Close = %d, want %d", writes, n+1)
	}
	// A second Close is harmless, and binding after Close starts nothing.
	_ = i.Close()
	i.BindRTCPWriter(interceptor.RTCPWriterFunc(func([]rtcp.Packet, interceptor.Attributes) (int, error) { return 0, nil }))
}
