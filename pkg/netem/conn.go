package netem

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/deadline"
)

// readSize is the largest datagram the ingress side reads: pion's ICE
// reads into buffers of this size, so nothing it could see is cut short.
const readSize = 8192

// maxReadErrors stops the ingress reader after this many errors in a row
// with no packet between: a socket that only fails would otherwise spin.
const maxReadErrors = 100

// shaper applies conditions to one socket. Writes go through the up link
// and are sent when due; with a down link a reader goroutine takes every
// datagram off the socket as it arrives and the down link hands it to
// ReadFrom when due. A direction without conditions passes straight
// through.
type shaper struct {
	pc       net.PacketConn
	udp      transport.UDPConn // pc, when it is one (for Write on a connected socket)
	up, down *link

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}

	// ingress, when down != nil
	rmu      sync.Mutex
	ready    fifo[*packet]
	readyCh  chan struct{} // capacity 1: something was added to ready
	readErr  error         // why the reader stopped
	rdl      *deadline.Deadline
	pumpDone chan struct{}
}

func newShaper(e *Emulator, pc net.PacketConn) *shaper {
	s := &shaper{pc: pc, closed: make(chan struct{})}
	s.udp, _ = pc.(transport.UDPConn)
	idx := e.sockets.Add(1)
	if c := e.cond.Up; c.Active() {
		s.up = newLink(c, e.rng(idx, 0), e.up, s.send)
	}
	if c := e.cond.Down; c.Active() {
		s.down = newLink(c, e.rng(idx, 1), e.down, s.toReader)
		s.readyCh = make(chan struct{}, 1)
		s.rdl = deadline.New()
		s.pumpDone = make(chan struct{})
		go s.pump()
	}
	return s
}

// overhead is the IP and UDP header bytes of a packet to or from addr.
func (s *shaper) overhead(addr net.Addr) int {
	if addr == nil {
		addr = s.remote()
	}
	if addr == nil {
		addr = s.pc.LocalAddr()
	}
	if a, ok := addr.(*net.UDPAddr); ok && a.IP.To4() == nil && len(a.IP) == net.IPv6len {
		return overheadIPv6
	}
	return overheadIPv4
}

func (s *shaper) remote() net.Addr {
	if s.udp == nil {
		return nil
	}
	if ra := s.udp.RemoteAddr(); ra != nil {
		if ua, ok := ra.(*net.UDPAddr); !ok || ua != nil {
			return ra
		}
	}
	return nil
}

func (s *shaper) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *shaper) opError(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: s.pc.LocalAddr().Network(), Source: s.pc.LocalAddr(), Addr: addr, Err: err}
}

// writeTo queues p for addr. Like a UDP send that the network loses
// later, it succeeds whatever becomes of p.
func (s *shaper) writeTo(p []byte, addr net.Addr) (int, error) {
	if s.up == nil || addr == nil {
		return s.pc.WriteTo(p, addr) // a nil address: the socket's own error
	}
	if s.isClosed() {
		return 0, s.opError("write", addr, net.ErrClosed)
	}
	s.up.push(p, addr, s.overhead(addr))
	return len(p), nil
}

// write queues p for the connected peer.
func (s *shaper) write(p []byte) (int, error) {
	if s.up == nil || s.remote() == nil {
		return s.udp.Write(p) // not connected: the socket's own error
	}
	if s.isClosed() {
		return 0, s.opError("write", s.remote(), net.ErrClosed)
	}
	s.up.push(p, nil, s.overhead(nil))
	return len(p), nil
}

// send is the up link's delivery.
func (s *shaper) send(p *packet) error {
	var err error
	if p.addr == nil {
		_, err = s.udp.Write(p.data)
	} else {
		_, err = s.pc.WriteTo(p.data, p.addr)
	}
	return err
}

// pump reads the socket for the down link until it closes.
func (s *shaper) pump() {
	defer close(s.pumpDone)
	buf := make([]byte, readSize)
	errs := 0
	for {
		n, addr, err := s.pc.ReadFrom(buf)
		if n > 0 {
			errs = 0
			s.down.push(buf[:n], addr, s.overhead(addr))
		}
		if err == nil {
			continue
		}
		errs++
		if s.isClosed() || errors.Is(err, net.ErrClosed) || errs >= maxReadErrors {
			s.rmu.Lock()
			s.readErr = err
			s.rmu.Unlock()
			s.signal()
			return
		}
		// A passing error (an ICMP unreachable on a connected socket)
		// reaches the reader in its place among the packets, as from
		// the socket itself.
		s.rmu.Lock()
		if s.ready.len() < MaxHeld {
			s.ready.push(&packet{err: err})
		}
		s.rmu.Unlock()
		s.signal()
	}
}

// toReader is the down link's delivery.
func (s *shaper) toReader(p *packet) error {
	s.rmu.Lock()
	if s.ready.len() >= MaxHeld {
		s.rmu.Unlock()
		return errReaderBehind
	}
	s.ready.push(p)
	s.rmu.Unlock()
	s.signal()
	return nil
}

var errReaderBehind = errors.New("netem: the reader is too far behind")

func (s *shaper) signal() {
	select {
	case s.readyCh <- struct{}{}:
	default:
	}
}

// readFrom returns the next packet the down link delivered.
func (s *shaper) readFrom(b []byte) (int, net.Addr, error) {
	if s.down == nil {
		return s.pc.ReadFrom(b)
	}
	for {
		select {
		case <-s.rdl.Done():
			return 0, nil, s.opError("read", nil, os.ErrDeadlineExceeded)
		default:
		}
		s.rmu.Lock()
		if s.ready.len() > 0 {
			p := s.ready.pop()
			more := s.ready.len() > 0
			s.rmu.Unlock()
			if more {
				s.signal() // for another reader
			}
			if p.err != nil {
				return 0, nil, p.err
			}
			return copy(b, p.data), p.addr, nil
		}
		err := s.readErr
		s.rmu.Unlock()
		if err != nil {
			return 0, nil, err
		}
		select {
		case <-s.readyCh:
		case <-s.rdl.Done():
		case <-s.closed:
			return 0, nil, s.opError("read", nil, net.ErrClosed)
		}
	}
}

func (s *shaper) setReadDeadline(t time.Time) error {
	if s.down == nil {
		return s.pc.SetReadDeadline(t)
	}
	s.rdl.Set(t)
	return nil
}

func (s *shaper) setDeadline(t time.Time) error {
	if s.down == nil {
		return s.pc.SetDeadline(t)
	}
	s.rdl.Set(t)
	return s.pc.SetWriteDeadline(t)
}

// close drops what the links hold, closes the socket and waits for the
// reader goroutine.
func (s *shaper) close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.up != nil {
			s.up.close()
		}
		if s.down != nil {
			s.down.close()
		}
		s.closeErr = s.pc.Close()
		if s.pumpDone != nil {
			<-s.pumpDone
		}
	})
	return s.closeErr
}

// packetConn is a net.PacketConn under conditions.
type packetConn struct {
	net.PacketConn
	s *shaper
}

func (c *packetConn) ReadFrom(b []byte) (int, net.Addr, error)     { return c.s.readFrom(b) }
func (c *packetConn) WriteTo(b []byte, addr net.Addr) (int, error) { return c.s.writeTo(b, addr) }
func (c *packetConn) Close() error                                 { return c.s.close() }
func (c *packetConn) SetDeadline(t time.Time) error                { return c.s.setDeadline(t) }
func (c *packetConn) SetReadDeadline(t time.Time) error            { return c.s.setReadDeadline(t) }

// udpConn is a transport.UDPConn under conditions. What it does not
// override (addresses, buffers, the write deadline) is the socket's own.
type udpConn struct {
	transport.UDPConn
	s *shaper
}

func (c *udpConn) Close() error                      { return c.s.close() }
func (c *udpConn) SetDeadline(t time.Time) error     { return c.s.setDeadline(t) }
func (c *udpConn) SetReadDeadline(t time.Time) error { return c.s.setReadDeadline(t) }

func (c *udpConn) Read(b []byte) (int, error) {
	n, _, err := c.s.readFrom(b)
	return n, err
}

func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) { return c.s.readFrom(b) }

func (c *udpConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, addr, err := c.s.readFrom(b)
	ua, _ := addr.(*net.UDPAddr)
	return n, ua, err
}

// ReadMsgUDP returns no out-of-band data: the socket's (ECN marks, say)
// does not survive the delay.
func (c *udpConn) ReadMsgUDP(b, _ []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, addr, err = c.ReadFromUDP(b)
	return n, 0, 0, addr, err
}

func (c *udpConn) Write(b []byte) (int, error)                  { return c.s.write(b) }
func (c *udpConn) WriteTo(b []byte, addr net.Addr) (int, error) { return c.s.writeTo(b, addr) }
func (c *udpConn) WriteToUDP(b []byte, a *net.UDPAddr) (int, error) {
	return c.s.writeTo(b, udpAddr(a))
}

// WriteMsgUDP sends b (to the connected peer when a is nil); out-of-band
// data is not carried through the delay.
func (c *udpConn) WriteMsgUDP(b, _ []byte, a *net.UDPAddr) (n, oobn int, err error) {
	if a == nil {
		n, err = c.s.write(b)
	} else {
		n, err = c.s.writeTo(b, a)
	}
	return n, 0, err
}

// udpAddr keeps a nil *net.UDPAddr a nil net.Addr.
func udpAddr(a *net.UDPAddr) net.Addr {
	if a == nil {
		return nil
	}
	return a
}
