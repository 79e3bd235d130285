package netem

import (
	"encoding/binary"
	"errors"
	"math"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/transport/v5/test"
)

var loopback = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}

func newEmulator(t *testing.T, c Conditions) *Emulator {
	t.Helper()
	e, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// wrappedSocket opens a loopback socket under e's conditions, closed with
// the test.
func wrappedSocket(t *testing.T, e *Emulator) transport.UDPConn {
	t.Helper()
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.Wrap(n).ListenUDP("udp4", loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func plainSocket(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sender writes numbered packets and remembers when each left.
type sender struct {
	mu   sync.Mutex
	sent map[uint64]time.Time
}

func newSender() *sender { return &sender{sent: map[uint64]time.Time{}} }

// payload is a numbered packet: first byte 0x42 (not STUN, DTLS nor RTP),
// then the number, padded to size.
func payload(seq uint64, size int) []byte {
	p := make([]byte, max(size, 9))
	p[0] = 0x42
	binary.BigEndian.PutUint64(p[1:], seq)
	return p
}

func (s *sender) send(t *testing.T, w net.PacketConn, to net.Addr, seq uint64, size int) {
	t.Helper()
	s.mu.Lock()
	s.sent[seq] = time.Now()
	s.mu.Unlock()
	if _, err := w.WriteTo(payload(seq, size), to); err != nil {
		t.Fatal(err)
	}
}

func (s *sender) at(seq uint64) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[seq]
}

type arrival struct {
	seq  uint64
	at   time.Time
	from net.Addr
	data []byte
}

// receive reads on r, from now on, until n packets came or within is
// over; the returned function waits for it and gives what came. It reads
// while the test sends, so that each packet is timed when it arrives.
func receive(t *testing.T, r net.PacketConn, n int, within time.Duration) func() []arrival {
	t.Helper()
	var out []arrival
	var readErr error
	end := time.Now().Add(within)
	if err := r.SetReadDeadline(end); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for len(out) < n {
			k, from, err := r.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					readErr = err
				}
				return
			}
			a := arrival{at: time.Now(), from: from, data: append([]byte(nil), buf[:k]...)}
			if k >= 9 {
				a.seq = binary.BigEndian.Uint64(buf[1:9])
			}
			out = append(out, a)
		}
	}()
	return func() []arrival {
		t.Helper()
		<-done
		if readErr != nil {
			t.Fatal(readErr)
		}
		return out
	}
}

func delays(s *sender, got []arrival) []time.Duration {
	out := make([]time.Duration, len(got))
	for i, a := range got {
		out[i] = a.at.Sub(s.at(a.seq))
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestUpDelay(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t)) // runs after the sockets' cleanups
	e := newEmulator(t, Conditions{Up: Link{Delay: 30 * ms}})
	w, r := wrappedSocket(t, e), plainSocket(t)
	wait := receive(t, r, 20, 5*time.Second)
	s := newSender()
	for i := range 20 {
		s.send(t, w, r.LocalAddr(), uint64(i), 100)
		time.Sleep(5 * ms) // pacing the sender, not synchronisation
	}
	got := wait()
	if len(got) != 20 {
		t.Fatalf("received %d of 20", len(got))
	}
	ds := delays(s, got)
	t.Logf("delays: min %v, median %v, max %v", slices.Min(ds), median(ds), slices.Max(ds))
	if lo := slices.Min(ds); lo < 30*ms {
		t.Errorf("a packet took %v, less than the 30ms delay", lo)
	}
	if m := median(ds); m > 55*ms {
		t.Errorf("median delay %v, want about 30ms", m)
	}
	st := e.Stats().Up
	if st.Packets != 20 || st.Delivered != 20 || st.Kinds[KindOther].Delivered != 20 || st.MeanHeld() < 30*ms {
		t.Errorf("counters %+v, mean held %v", st.Counters, st.MeanHeld())
	}
	if d := e.Stats().Down; d.Packets != 0 {
		t.Errorf("down counted %d packets with no down conditions", d.Packets)
	}
}

// Jitter keeps packets in order unless reordering is asked for.
func TestJitterOrder(t *testing.T) {
	for _, reorder := range []bool{false, true} {
		name := map[bool]string{false: "in order", true: "reorder"}[reorder]
		t.Run(name, func(t *testing.T) {
			e := newEmulator(t, Conditions{Up: Link{Delay: 20 * ms, Jitter: 15 * ms, Reorder: reorder}, Seed: 5})
			w, r := wrappedSocket(t, e), plainSocket(t)
			wait := receive(t, r, 100, 5*time.Second)
			s := newSender()
			for i := range 100 {
				s.send(t, w, r.LocalAddr(), uint64(i), 100)
				time.Sleep(2 * ms)
			}
			got := wait()
			if len(got) != 100 {
				t.Fatalf("received %d of 100", len(got))
			}
			inversions := 0
			for i := 1; i < len(got); i++ {
				if got[i].seq < got[i-1].seq {
					inversions++
				}
			}
			ds := delays(s, got)
			spread := slices.Max(ds) - slices.Min(ds)
			t.Logf("%d packets out of order; delays from %v to %v", inversions, slices.Min(ds), slices.Max(ds))
			if spread < 10*ms {
				t.Errorf("delays vary by %v only with 15ms of jitter", spread)
			}
			if !reorder && inversions != 0 {
				t.Errorf("%d packets overtook an earlier one without reorder", inversions)
			}
			if reorder && inversions < 5 {
				t.Errorf("only %d packets overtook an earlier one with reorder and jitter 7 times the spacing", inversions)
			}
		})
	}
}

// The rate limit queues what is sent too fast, spaces it at the rate and
// drops what finds the queue full.
func TestRateQueue(t *testing.T) {
	e := newEmulator(t, Conditions{Up: Link{Rate: 80_000, Queue: 5}}) // 10,000 bytes/s
	w, r := wrappedSocket(t, e), plainSocket(t)
	wait := receive(t, r, 6, 5*time.Second)
	s := newSender()
	for i := range 20 {
		s.send(t, w, r.LocalAddr(), uint64(i), 1000-overheadIPv4) // 1000 bytes on the wire: 100 ms each
	}
	got := wait()
	st := e.Stats().Up
	t.Logf("counters %+v; held mean %v, max %v", st.Counters, st.MeanHeld(), st.MaxHeld)
	// The first leaves with the bucket's tokens, five wait, fourteen find
	// the queue full.
	if len(got) != 6 || st.Overflow != 14 || st.Lost != 0 {
		t.Fatalf("received %d, overflow %d; want 6 and 14", len(got), st.Overflow)
	}
	// Timers never fire early, so each packet's departure is a floor:
	// the second waits for half its bytes (50 ms), each next one for all
	// of its own (100 ms), counted from when the first was sent. A busy
	// machine can only make them later.
	t0 := s.at(0)
	for i, a := range got {
		if a.seq != uint64(i) {
			t.Errorf("packet %d arrived as number %d", a.seq, i)
		}
		floor := time.Duration(0)
		if i >= 1 {
			floor = 50*ms + time.Duration(i-1)*100*ms
		}
		if d := a.at.Sub(t0); d < floor {
			t.Errorf("packet %d arrived %v after the first was sent; the rate allows it no earlier than %v", i, d, floor)
		}
	}
	if last := got[5].at.Sub(t0); last > 450*ms+time.Second {
		t.Errorf("the sixth packet arrived %v after the first was sent, want about 450ms", last)
	}
}

func TestDuplicate(t *testing.T) {
	t.Run("every packet", func(t *testing.T) {
		e := newEmulator(t, Conditions{Up: Link{Duplicate: 100}})
		w, r := wrappedSocket(t, e), plainSocket(t)
		wait := receive(t, r, 20, 5*time.Second)
		s := newSender()
		for i := range 10 {
			s.send(t, w, r.LocalAddr(), uint64(i), 100)
		}
		got := wait()
		count := map[uint64]int{}
		for _, a := range got {
			count[a.seq]++
		}
		for i := range uint64(10) {
			if count[i] != 2 {
				t.Errorf("packet %d arrived %d times, want 2", i, count[i])
			}
		}
		if st := e.Stats().Up; st.Duplicated != 10 || st.Delivered != 20 {
			t.Errorf("counters %+v", st.Counters)
		}
	})
	t.Run("30 percent", func(t *testing.T) {
		e := newEmulator(t, Conditions{Up: Link{Duplicate: 30}, Seed: 11})
		w, r := wrappedSocket(t, e), plainSocket(t)
		wait := receive(t, r, 400, time.Second) // all that will come, then the deadline
		s := newSender()
		for i := range 200 {
			s.send(t, w, r.LocalAddr(), uint64(i), 100)
			time.Sleep(100 * time.Microsecond) // within the receiver's socket buffer
		}
		got := wait()
		st := e.Stats().Up
		if len(got) != 200+int(st.Duplicated) || st.Duplicated < 40 || st.Duplicated > 80 {
			t.Errorf("received %d with %d duplicated of 200, want 200 + duplicated, about 60", len(got), st.Duplicated)
		}
	})
}

// Every packet is accounted for once the links hold nothing: offered or
// copied, it was lost, overflowed, delivered or discarded at close.
func TestCountersAddUp(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	e := newEmulator(t, Conditions{
		Up:   Link{Loss: 10, Duplicate: 30, Rate: 200_000, Queue: 8, Delay: 5 * ms, Jitter: 5 * ms},
		Down: Link{Loss: 5, Burst: 2, Duplicate: 10, Delay: 50 * ms},
		Seed: 12,
	})
	c, peer := wrappedSocket(t, e), plainSocket(t)
	wait := receive(t, peer, 1000, time.Second) // all that will come, then the deadline
	s := newSender()
	for i := range 300 {
		s.send(t, c, peer.LocalAddr(), uint64(i), 200)
		s.send(t, peer, c.LocalAddr(), uint64(i), 200)
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // within the receivers' socket buffers
		}
	}
	got := wait()
	if err := c.Close(); err != nil { // drops what down still holds: nobody reads it
		t.Fatal(err)
	}
	for name, d := range map[string]DirectionStats{"up": e.Stats().Up, "down": e.Stats().Down} {
		in, out := d.Packets+d.Duplicated, d.Lost+d.Overflow+d.Delivered+d.Discarded
		t.Logf("%s: %+v", name, d.Counters)
		if d.Packets != 300 || in != out {
			t.Errorf("%s: %d offered + %d copies != %d lost + %d overflowed + %d delivered + %d discarded",
				name, d.Packets, d.Duplicated, d.Lost, d.Overflow, d.Delivered, d.Discarded)
		}
		var kinds Counters
		for _, k := range d.Kinds {
			kinds.Packets += k.Packets
			kinds.Delivered += k.Delivered
		}
		if kinds.Packets != d.Packets || kinds.Delivered != d.Delivered {
			t.Errorf("%s: the kinds add up to %+v, not %+v", name, kinds, d.Counters)
		}
	}
	if up := e.Stats().Up; uint64(len(got)) != up.Delivered || up.Overflow == 0 || up.Duplicated == 0 || up.Lost == 0 {
		t.Errorf("peer received %d; up %+v: want every kind of drop and copy", len(got), up.Counters)
	}
}

// What the counters say was dropped is exactly what did not arrive.
func TestLossCounts(t *testing.T) {
	e := newEmulator(t, Conditions{Up: Link{Loss: 20}, Seed: 3})
	w, r := wrappedSocket(t, e), plainSocket(t)
	wait := receive(t, r, 500, time.Second) // all that will come, then the deadline
	s := newSender()
	for i := range 500 {
		s.send(t, w, r.LocalAddr(), uint64(i), 100)
		time.Sleep(100 * time.Microsecond) // within the receiver's socket buffer
	}
	got := wait()
	st := e.Stats().Up
	if uint64(len(got)) != st.Delivered || st.Packets != 500 || st.Delivered+st.Lost != 500 {
		t.Errorf("received %d; counters %+v", len(got), st.Counters)
	}
	if p := st.DropPercent(); math.Abs(p-20) > 6 {
		t.Errorf("dropped %.1f%%, want 20 ± 6", p)
	}
}

// Down conditions delay and drop what the socket receives; reads keep
// their deadlines and addresses.
func TestDown(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t)) // runs after the sockets' cleanups
	e := newEmulator(t, Conditions{Down: Link{Delay: 30 * ms, Loss: 10}, Seed: 4})
	r, w := wrappedSocket(t, e), plainSocket(t)
	wait := receive(t, r, 100, time.Second) // all that will come, then the deadline
	s := newSender()
	for i := range 100 {
		s.send(t, w, r.LocalAddr(), uint64(i), 100)
		time.Sleep(time.Millisecond)
	}
	got := wait()
	st := e.Stats().Down
	if uint64(len(got)) != st.Delivered || st.Packets != 100 || st.Lost+st.Delivered != 100 || st.Lost == 0 {
		t.Fatalf("received %d; counters %+v", len(got), st.Counters)
	}
	for _, a := range got {
		if a.from.String() != w.LocalAddr().String() {
			t.Fatalf("from %v, want %v", a.from, w.LocalAddr())
		}
	}
	if lo := slices.Min(delays(s, got)); lo < 30*ms {
		t.Errorf("a packet was read %v after it was sent, under the 30ms delay", lo)
	}
	if up := e.Stats().Up; up.Packets != 0 {
		t.Errorf("up counted %d packets with no up conditions", up.Packets)
	}

	// A deadline in the past fails at once, as on a socket.
	if err := r.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if _, _, err := r.ReadFrom(make([]byte, 10)); !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past the deadline: %v, want a timeout", err)
	}
	// The other ways to read.
	if err := r.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.send(t, w, r.LocalAddr(), uint64(1000+i), 100)
	}
	buf := make([]byte, 100)
	if _, err := r.Read(buf); err != nil {
		t.Error(err)
	}
	if _, addr, err := r.ReadFromUDP(buf); err != nil || addr.Port != w.LocalAddr().(*net.UDPAddr).Port {
		t.Errorf("ReadFromUDP: %v, %v", addr, err)
	}
	if _, oobn, _, addr, err := r.ReadMsgUDP(buf, make([]byte, 64)); err != nil || oobn != 0 || addr == nil {
		t.Errorf("ReadMsgUDP: %d, %v, %v", oobn, addr, err)
	}
}

// Close drops what is held, stops the timers and the reader, unblocks a
// read, and refuses writes.
func TestClose(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t)) // runs after the sockets' cleanups
	e := newEmulator(t, Conditions{Up: Link{Delay: 200 * ms}, Down: Link{Delay: 200 * ms}})
	c, peer := wrappedSocket(t, e), plainSocket(t)
	s := newSender()
	for i := range 10 {
		s.send(t, c, peer.LocalAddr(), uint64(i), 100)
		s.send(t, peer, c.LocalAddr(), uint64(i), 100)
	}
	// Every packet peer sent reached the socket (the down link holds it).
	deadline := time.Now().Add(5 * time.Second)
	for e.Stats().Down.Packets < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("down link took %d of 10 packets", e.Stats().Down.Packets)
		}
		time.Sleep(time.Millisecond)
	}
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 100))
		readErr <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked read returned %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadFrom")
	}
	if _, err := c.WriteTo([]byte{0x42}, peer.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v, want net.ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	st := e.Stats()
	if st.Up.Discarded != 10 || st.Up.Delivered != 0 || st.Down.Discarded != 10 || st.Down.Delivered != 0 {
		t.Errorf("up %+v, down %+v: want all 10 each way discarded", st.Up.Counters, st.Down.Counters)
	}
	// Nothing held leaves after Close: past the delay, peer has nothing.
	if got := receive(t, peer, 1, 400*ms)(); len(got) != 0 {
		t.Errorf("peer received %d packets sent before Close", len(got))
	}
}

// The RTP streams the link carries get RFC 3550 jitter as the link
// delivered them; the receiver measures the same.
func TestRTPJitter(t *testing.T) {
	const (
		n       = 150
		spacing = 10 * ms
		jitter  = 4 * ms // 2×jitter under the spacing: no packet is held back for order
	)
	e := newEmulator(t, Conditions{Up: Link{Delay: 10 * ms, Jitter: jitter}, Seed: 8})
	w, r := wrappedSocket(t, e), plainSocket(t)
	const ssrc = 0x11223344
	wait := receive(t, r, n, 10*time.Second)
	tick := time.NewTicker(spacing)
	defer tick.Stop()
	sent := make([]time.Time, n)
	for i := range n {
		sent[i] = time.Now()
		p := make([]byte, 60)
		p[0], p[1] = 0x80, 111
		binary.BigEndian.PutUint16(p[2:], uint16(i))
		binary.BigEndian.PutUint32(p[4:], uint32(i*480)) // 10 ms at 48 kHz
		binary.BigEndian.PutUint32(p[8:], ssrc)
		if _, err := w.WriteTo(p, r.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		<-tick.C
	}
	got := wait()
	if len(got) != n {
		t.Fatalf("received %d of %d", len(got), n)
	}
	// The receiver's own RFC 3550 jitter.
	var rs streamState
	for _, a := range got {
		rs.deliver(binary.BigEndian.Uint32(a.data[4:8]), a.at, DefaultClockRate)
	}
	received := time.Duration(rs.jitter * float64(time.Second))
	st := e.Stats().Up
	stream, ok := st.Stream(ssrc)
	if !ok || stream.Delivered != n || st.Kinds[KindRTP].Packets != n {
		t.Fatalf("stream %+v (found %v); RTP counted %d", stream, ok, st.Kinds[KindRTP].Packets)
	}
	// What the link added, without the sender's pacing: the mean
	// |difference| of consecutive packets' send-to-receive times. For
	// uniform ±J it is 2J/3; a busy machine can only add to it.
	var added time.Duration
	for i := 1; i < n; i++ {
		seq := func(a arrival) uint16 { return binary.BigEndian.Uint16(a.data[2:4]) }
		d := got[i].at.Sub(sent[seq(got[i])]) - got[i-1].at.Sub(sent[seq(got[i-1])])
		added += max(d, -d)
	}
	added /= n - 1
	theory := 2 * jitter / 3
	t.Logf("jitter: link %v, receiver %v; delay variation added %v, uniform ±%v alone %v", stream.Jitter, received, added, jitter, theory)
	if added < theory*8/10 || added > 2*theory+time.Millisecond {
		t.Errorf("the link added %v of delay variation, want about %v", added, theory)
	}
	// The link's RFC 3550 jitter also holds the sender's pacing, so it
	// is at least what the link added.
	if stream.Jitter < theory*6/10 {
		t.Errorf("link jitter %v, want at least about %v", stream.Jitter, theory)
	}
	// The receiver times arrivals after its own scheduling, which a busy
	// machine can only add to.
	if received < stream.Jitter-time.Millisecond || received > stream.Jitter*3/2+time.Millisecond {
		t.Errorf("receiver measured %v, the link %v", received, stream.Jitter)
	}
}

// Wrap puts every UDP socket of a transport.Net under the conditions, and
// leaves the net alone when there are none.
func TestWrap(t *testing.T) {
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	if got := newEmulator(t, Conditions{}).Wrap(n); got != transport.Net(n) {
		t.Error("Wrap with no conditions did not return the net itself")
	}
	e := newEmulator(t, Conditions{Up: Link{Delay: ms}})
	wn := e.Wrap(n)
	peer := plainSocket(t)

	lu, err := wn.ListenUDP("udp4", loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer lu.Close()
	lp, err := wn.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lp.Close()
	du, err := wn.DialUDP("udp4", nil, peer.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer du.Close()
	wait := receive(t, peer, 4, 5*time.Second)
	for name, c := range map[string]any{"ListenUDP": lu, "ListenPacket": lp, "DialUDP": du} {
		if _, ok := c.(*udpConn); !ok {
			t.Errorf("%s returned %T, not under the conditions", name, c)
		}
	}
	// A connected socket's Write goes through the conditions too.
	if _, err := du.Write(payload(7, 20)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := du.WriteMsgUDP(payload(11, 20), nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := lu.WriteToUDP(payload(8, 20), peer.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := lu.WriteMsgUDP(payload(9, 20), nil, peer.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	if got := wait(); len(got) != 4 || e.Stats().Up.Delivered != 4 {
		t.Errorf("peer received %d, delivered %d; want 4", len(got), e.Stats().Up.Delivered)
	}
	// Writes without an address fail as the socket's would.
	if _, err := lu.Write([]byte{1}); err == nil {
		t.Error("Write on an unconnected socket succeeded")
	}
	if _, err := lu.WriteTo([]byte{1}, nil); err == nil {
		t.Error("WriteTo without an address succeeded")
	}
	// TCP is not touched.
	tl, err := wn.ListenTCP("tcp4", &net.TCPAddr{IP: loopback.IP})
	if err != nil {
		t.Fatal(err)
	}
	_ = tl.Close()

	// A PacketConn that is not a UDPConn is wrapped as a PacketConn.
	raw := plainSocket(t)
	pc := e.WrapPacketConn(onlyPacketConn{raw})
	if _, ok := pc.(*packetConn); !ok {
		t.Fatalf("WrapPacketConn returned %T", pc)
	}
	defer pc.Close()
	wait = receive(t, peer, 1, 5*time.Second)
	if _, err := pc.WriteTo(payload(10, 20), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got := wait(); len(got) != 1 {
		t.Errorf("peer received %d from the PacketConn", len(got))
	}
	if _, err := pc.WriteTo([]byte{1}, nil); err == nil {
		t.Error("WriteTo without an address succeeded")
	}
}

type onlyPacketConn struct{ net.PacketConn }
