package netem

import (
	"log/slog"
	"math/rand/v2"
	"net"
	"sync/atomic"

	"github.com/pion/transport/v5"
)

// DefaultClockRate is the RTP clock the jitter figures assume when
// Options.ClockRate is zero: Opus's, which is always 48 kHz on the wire
// (RFC 7587), the codec callstat sends.
const DefaultClockRate = 48000

// Options configure an Emulator.
type Options struct {
	Logger *slog.Logger
	// ClockRate is the RTP clock rate, Hz, of the streams whose jitter
	// Stats reports (DefaultClockRate when zero).
	ClockRate uint32
}

// Emulator applies one set of conditions to every socket it wraps. Each
// socket gets its own links, so a rate limit holds per socket — in a
// callstat phone, per call: as if each call's user were on that network,
// not a bottleneck the calls of the process share. The counters add up
// over every socket. An Emulator starts no goroutine of its own; a
// wrapped socket's are stopped by its Close.
type Emulator struct {
	cond     Conditions
	log      *slog.Logger
	seed     uint64
	up, down *dirStats
	sockets  atomic.Uint64
}

// New returns an emulator of c, or an error wrapping ErrInvalidSpec if a
// figure is out of range.
func New(c Conditions, opts Options) (*Emulator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ClockRate == 0 {
		opts.ClockRate = DefaultClockRate
	}
	seed := c.Seed
	if seed == 0 {
		seed = rand.Uint64() //nolint:gosec // network emulation, not security
	}
	return &Emulator{cond: c, log: opts.Logger, seed: seed, up: newDirStats(opts.ClockRate), down: newDirStats(opts.ClockRate)}, nil
}

// Conditions are what the emulator applies.
func (e *Emulator) Conditions() Conditions { return e.cond }

// Stats is what it did so far, over every socket.
func (e *Emulator) Stats() Stats {
	return Stats{Up: e.up.snapshot(), Down: e.down.snapshot()}
}

// rng is the random source of one direction of the idx-th socket: its own
// stream of the seed, so sockets draw independently and reproducibly.
func (e *Emulator) rng(idx, dir uint64) *rand.Rand {
	return rand.New(rand.NewPCG(e.seed, idx<<1|dir)) //nolint:gosec // network emulation, not security
}

// Wrap returns n with the conditions on every UDP socket it opens
// (ListenUDP, ListenPacket on udp networks, DialUDP), for pion's
// SettingEngine.SetNet. Everything else, TCP included, is n's own.
func (e *Emulator) Wrap(n transport.Net) transport.Net {
	if !e.cond.Active() {
		return n
	}
	return &emuNet{Net: n, em: e}
}

// WrapPacketConn puts pc under the conditions; closing the result closes
// pc.
func (e *Emulator) WrapPacketConn(pc net.PacketConn) net.PacketConn {
	if uc, ok := pc.(transport.UDPConn); ok {
		return e.WrapUDPConn(uc)
	}
	if !e.cond.Active() {
		return pc
	}
	return &packetConn{PacketConn: pc, s: e.newShaper(pc)}
}

// WrapUDPConn puts c under the conditions; closing the result closes c.
func (e *Emulator) WrapUDPConn(c transport.UDPConn) transport.UDPConn {
	if !e.cond.Active() {
		return c
	}
	return &udpConn{UDPConn: c, s: e.newShaper(c)}
}

func (e *Emulator) newShaper(pc net.PacketConn) *shaper {
	e.log.Debug("network conditions on socket", "local", pc.LocalAddr().String(), "conditions", e.cond.String())
	return newShaper(e, pc)
}

// emuNet is a transport.Net whose UDP sockets are under conditions.
type emuNet struct {
	transport.Net
	em *Emulator
}

func isUDP(network string) bool {
	return network == "udp" || network == "udp4" || network == "udp6"
}

func (n *emuNet) ListenPacket(network, address string) (net.PacketConn, error) {
	pc, err := n.Net.ListenPacket(network, address)
	if err != nil || !isUDP(network) {
		return pc, err
	}
	return n.em.WrapPacketConn(pc), nil
}

func (n *emuNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return n.em.WrapUDPConn(c), nil
}

func (n *emuNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.DialUDP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return n.em.WrapUDPConn(c), nil
}
