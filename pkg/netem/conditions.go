// Package netem applies network conditions — delay, jitter, random and
// bursty loss, a rate limit with a queue, duplication — to a process's own
// UDP packets, in user space, by wrapping the packet connections pion's ICE
// agents open (see Emulator.Wrap). No root, no tc, no namespaces: the
// conditions hold for this process's sockets only, and for everything they
// carry (STUN connectivity checks, DTLS, RTP, RTCP), as on a real link.
//
// The model follows Linux's netem (tc-netem(8)) where it can: the same loss
// models, jitter that keeps packets in order unless reordering is asked
// for, a rate limit whose queue fills and then drops. docs/network.md describes the
// conditions, the named profiles and how this differs from the kernel's.
package netem

import (
	"fmt"
	"math"
	"time"
)

// Distribution is how jitter varies a packet's delay.
type Distribution uint8

const (
	// Uniform: delay ± jitter, every value equally likely (netem's default
	// when no distribution table is given).
	Uniform Distribution = iota
	// Normal: a normal distribution centred on the delay with a standard
	// deviation of the jitter (netem's "distribution normal").
	Normal
)

func (d Distribution) String() string {
	switch d {
	case Uniform:
		return "uniform"
	case Normal:
		return "normal"
	default:
		return fmt.Sprintf("Distribution(%d)", uint8(d))
	}
}

// GilbertElliott is the two-state bursty loss model netem calls gemodel: a
// Good and a Bad state, each with its own loss probability, and the chance
// of moving between them after every packet. All four are percentages, in
// netem's order: loss gemodel P R 1-H 1-K.
type GilbertElliott struct {
	P        float64 // Good → Bad, per packet
	R        float64 // Bad → Good, per packet; the mean stay in Bad is 100/R packets
	LossBad  float64 // loss probability in Bad (netem's 1-h)
	LossGood float64 // loss probability in Good (netem's 1-k)
}

// MeanLoss is the long-run loss, percent: each state's loss weighted by the
// share of packets that meet it.
func (g GilbertElliott) MeanLoss() float64 {
	if g.P+g.R == 0 {
		return g.LossGood // never leaves Good
	}
	bad := g.P / (g.P + g.R)
	return bad*g.LossBad + (1-bad)*g.LossGood
}

// Link is what one direction of the network does to every packet, in this
// order: loss, duplication, the rate limit's queue, then delay and jitter.
// The zero Link does nothing.
type Link struct {
	// Delay is the one-way delay added to every packet.
	Delay time.Duration
	// Jitter varies each packet's delay, drawn from Distribution. Packets
	// stay in the order they were sent (a packet whose draw would overtake
	// the one before leaves right after it, as on a FIFO link) unless
	// Reorder is set. The delay never goes below zero.
	Jitter       time.Duration
	Distribution Distribution
	// Reorder lets a packet with a shorter delay overtake earlier ones.
	Reorder bool
	// Loss drops each packet independently with this probability, percent.
	// With Burst the same mean loss comes in bursts instead.
	Loss float64
	// Burst is the mean number of packets lost in a row (>= 1): the loss
	// becomes a Gilbert-Elliott model that loses every packet in Bad, none
	// in Good, with R = 1/Burst and P chosen so that the mean loss is Loss
	// (as webrtcperf's lossBurst). Zero: independent losses.
	Burst float64
	// GE is an explicit Gilbert-Elliott model, instead of Loss and Burst.
	GE *GilbertElliott
	// Rate limits the link to this many bits per second, counting each
	// packet's IP and UDP headers (28 bytes over IPv4, 48 over IPv6). It is
	// a token bucket one full-size packet (1500 bytes) deep: packets sent
	// faster wait in a FIFO queue, so queueing delay builds up as at a
	// real bottleneck. Zero: unlimited.
	Rate int64
	// Queue is the most packets that may wait for the rate limit (the
	// bottleneck's buffer); a packet that finds it full is dropped (tail
	// drop). Zero: DefaultQueue. Only with Rate.
	Queue int
	// Duplicate sends a second copy of each packet with this probability,
	// percent. The copy is delayed independently and counted once more by
	// the rate limit.
	Duplicate float64
}

// DefaultQueue is the bottleneck's buffer when Link.Queue is zero, in
// packets: the queue length libwebrtc's simulated-network examples use.
const DefaultQueue = 50

// MaxHeld bounds the packets one direction of one socket holds at a time
// (queued or delayed), whatever the conditions: beyond it packets are
// dropped and counted as overflow, so memory stays bounded even when a
// flood meets a long delay.
const MaxHeld = 10000

// Bounds on what a Link accepts: beyond them the figures describe no
// network a call could run over, and a typo is more likely than intent.
const (
	MaxDelay = 30 * time.Second
	MinRate  = 1000            // bit/s
	MaxRate  = 100_000_000_000 // bit/s: 100 Gbit/s
	MaxQueue = MaxHeld         // packets
	MaxBurst = 10000           // packets
)

// Active reports whether the link does anything to packets.
func (l Link) Active() bool {
	return l.Delay > 0 || l.Jitter > 0 || l.Loss > 0 || l.GE != nil || l.Rate > 0 || l.Duplicate > 0
}

// queue is the packets that may wait for the rate limit.
func (l Link) queue() int {
	if l.Queue > 0 {
		return l.Queue
	}
	return DefaultQueue
}

// lossModel is the Gilbert-Elliott model the link's loss follows, or false
// for independent losses (Loss alone).
func (l Link) lossModel() (GilbertElliott, bool) {
	switch {
	case l.GE != nil:
		return *l.GE, true
	case l.Burst > 0 && l.Loss > 0:
		// Mean loss L = P/(P+R) with R = 1/B: P = L·R/(1-L).
		loss := l.Loss / 100
		r := 1 / l.Burst
		return GilbertElliott{P: 100 * loss * r / (1 - loss), R: 100 * r, LossBad: 100}, true
	default:
		return GilbertElliott{}, false
	}
}

// MeanLoss is the long-run share of packets the loss model drops, percent
// (before any dropped by a full queue).
func (l Link) MeanLoss() float64 {
	if ge, ok := l.lossModel(); ok {
		return ge.MeanLoss()
	}
	return l.Loss
}

// validate checks l; what names the direction in the message ("up.", "").
func (l Link) validate(prefix string) error {
	pct := func(name string, v float64) error {
		if math.IsNaN(v) || v < 0 || v > 100 {
			return fmt.Errorf("%w: %s%s=%v: a percentage must be between 0%% and 100%%", ErrInvalidSpec, prefix, name, v)
		}
		return nil
	}
	dur := func(name string, v time.Duration) error {
		if v < 0 || v > MaxDelay {
			return fmt.Errorf("%w: %s%s=%v: must be between 0 and %v", ErrInvalidSpec, prefix, name, v, MaxDelay)
		}
		return nil
	}
	if err := dur("delay", l.Delay); err != nil {
		return err
	}
	if err := dur("jitter", l.Jitter); err != nil {
		return err
	}
	if l.Distribution > Normal {
		return fmt.Errorf("%w: %sdistribution=%v: use uniform or normal", ErrInvalidSpec, prefix, l.Distribution)
	}
	if err := pct("loss", l.Loss); err != nil {
		return err
	}
	if err := pct("dup", l.Duplicate); err != nil {
		return err
	}
	if l.Rate != 0 && (l.Rate < MinRate || l.Rate > MaxRate) {
		return fmt.Errorf("%w: %srate=%s: must be between %s and %s", ErrInvalidSpec, prefix, formatRate(l.Rate), formatRate(MinRate), formatRate(MaxRate))
	}
	if l.Queue < 0 || l.Queue > MaxQueue {
		return fmt.Errorf("%w: %squeue=%d: must be between 1 and %d packets", ErrInvalidSpec, prefix, l.Queue, MaxQueue)
	}
	if l.Queue > 0 && l.Rate == 0 {
		return fmt.Errorf("%w: %squeue=%d without %srate: the queue is where packets wait for the rate limit; add e.g. %srate=500kbit", ErrInvalidSpec, prefix, l.Queue, prefix, prefix)
	}
	if math.IsNaN(l.Burst) || l.Burst < 0 || (l.Burst > 0 && l.Burst < 1) || l.Burst > MaxBurst {
		return fmt.Errorf("%w: %sburst=%v: the mean burst is a number of packets between 1 and %d", ErrInvalidSpec, prefix, l.Burst, MaxBurst)
	}
	if l.GE != nil && (l.Loss > 0 || l.Burst > 0) {
		return fmt.Errorf("%w: %sgemodel with %sloss or %sburst: give the loss one way, either loss (and burst) or gemodel", ErrInvalidSpec, prefix, prefix, prefix)
	}
	if l.Burst > 0 {
		if l.Loss == 0 {
			return fmt.Errorf("%w: %sburst=%v without %sloss: burst is the mean length of the losses loss= sets, e.g. loss=5%%,burst=3", ErrInvalidSpec, prefix, l.Burst, prefix)
		}
		if l.Loss == 100 {
			return fmt.Errorf("%w: %sloss=100%%,%sburst=%v: every packet is lost, so there are no bursts; drop burst", ErrInvalidSpec, prefix, prefix, l.Burst)
		}
		if ge, _ := l.lossModel(); ge.P > 100 {
			return fmt.Errorf("%w: %sloss=%v%%,%sburst=%v: bursts of %v packets cannot make %v%% loss; raise burst to at least %v",
				ErrInvalidSpec, prefix, l.Loss, prefix, l.Burst, l.Burst, l.Loss, math.Ceil(l.Loss/(100-l.Loss)))
		}
	}
	if g := l.GE; g != nil {
		for _, f := range []struct {
			name string
			v    float64
		}{{"p", g.P}, {"r", g.R}, {"1-h", g.LossBad}, {"1-k", g.LossGood}} {
			if math.IsNaN(f.v) || f.v < 0 || f.v > 100 {
				return fmt.Errorf("%w: %sgemodel %s=%v: a percentage must be between 0%% and 100%%", ErrInvalidSpec, prefix, f.name, f.v)
			}
		}
	}
	return nil
}

// Conditions are what the network does in each direction.
type Conditions struct {
	// Up applies to the packets this process sends (egress), Down to the
	// packets it receives (ingress).
	Up, Down Link
	// Seed makes every random draw reproducible: with the same seed, the
	// same socket (in the order sockets were opened) sees the same losses,
	// duplicates and delays. Zero: seeded at random.
	Seed uint64
}

// Active reports whether the conditions do anything to packets.
func (c Conditions) Active() bool { return c.Up.Active() || c.Down.Active() }

// Validate reports the first figure out of range, naming it as Parse
// would read it.
func (c Conditions) Validate() error {
	if c.Up == c.Down || sameLink(c.Up, c.Down) {
		return c.Up.validate("")
	}
	if err := c.Up.validate("up."); err != nil {
		return err
	}
	return c.Down.validate("down.")
}

// sameLink compares links, GE by value.
func sameLink(a, b Link) bool {
	ga, gb := a.GE, b.GE
	a.GE, b.GE = nil, nil
	if a != b || (ga == nil) != (gb == nil) {
		return false
	}
	return ga == nil || *ga == *gb
}
