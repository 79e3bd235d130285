//go:build linux

// Package netlab builds what the ground-truth tests run callstat in: two
// network namespaces joined by a link with known delay, jitter and loss,
// so that the statistics callstat reports can be checked against
// conditions the test imposed. It needs root (CAP_NET_ADMIN) and iproute2.
//
// The link is a veth pair shaped with tc netem when the kernel has netem
// (sch_netem). Kernels built without it (some CI and VM kernels) get the
// same conditions from a userspace link instead: a TUN device in each
// namespace, and this process moving IP packets between them, each held
// for its delay or dropped, as netem would. Lab.Mode says which one ran.
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Condition is what the link does to every packet, in each direction.
type Condition struct {
	Delay  time.Duration // one-way delay
	Jitter time.Duration // the delay varies uniformly by ± this much
	Loss   float64       // percent of packets dropped
}

// String is the condition in tc netem's words, e.g. "delay 40ms 15ms loss 5%".
func (c Condition) String() string {
	return strings.Join(c.netemArgs(), " ")
}

func (c Condition) netemArgs() []string {
	var args []string
	if c.Delay > 0 || c.Jitter > 0 {
		args = append(args, "delay", fmtDuration(c.Delay))
		if c.Jitter > 0 {
			args = append(args, fmtDuration(c.Jitter))
		}
	}
	if c.Loss > 0 {
		args = append(args, "loss", fmt.Sprintf("%g%%", c.Loss))
	}
	if len(args) == 0 {
		args = []string{"delay", "0ms"}
	}
	return args
}

func fmtDuration(d time.Duration) string {
	if d%time.Millisecond == 0 {
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return fmt.Sprintf("%dus", d/time.Microsecond)
}

// Modes of a Lab's link.
const (
	ModeNetem     = "veth+netem"
	ModeUserspace = "tun+userspace"
)

// ErrNotRoot means the process cannot create namespaces.
var ErrNotRoot = errors.New("netlab needs root (CAP_NET_ADMIN) to create network namespaces; run the tests as root, as CI does")

// Lab is two namespaces, A and B, joined by a link under a Condition.
type Lab struct {
	NSA, NSB     string // namespace names, for "ip netns exec"
	AddrA, AddrB string // the link's IPv4 address in each
	Mode         string
	Cond         Condition

	wire       *wire  // userspace mode
	devA, devB string // the link's device in each namespace
	closed     atomic.Bool
}

var labs atomic.Int64

const (
	addrA = "10.201.0.1"
	addrB = "10.201.0.2"
)

// New builds a lab under cond. Names are unique to this process and lab,
// so that labs can run in parallel and a crashed run cannot collide with
// the next. On error nothing is left behind. Close removes everything.
func New(ctx context.Context, cond Condition) (*Lab, error) {
	return newLab(ctx, cond, true)
}

func newLab(ctx context.Context, cond Condition, netem bool) (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("netlab: the ip command (iproute2) is missing: %w", err)
	}
	n := labs.Add(1)
	tag := fmt.Sprintf("%05x%02x", os.Getpid()&0xfffff, n&0xff)
	l := &Lab{
		NSA: "callstat-lab-" + tag + "-a", NSB: "callstat-lab-" + tag + "-b",
		AddrA: addrA, AddrB: addrB, Cond: cond,
	}
	if err := l.build(ctx, "cst"+tag, netem); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	return l, nil
}

func (l *Lab) build(ctx context.Context, ifPrefix string, netem bool) error {
	for _, ns := range []string{l.NSA, l.NSB} {
		if err := ip(ctx, "netns", "add", ns); err != nil {
			return err
		}
		if err := ip(ctx, "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	if netem {
		ok, err := l.buildNetem(ctx, ifPrefix)
		if err != nil || ok {
			return err
		}
	}
	return l.buildUserspace(ctx, ifPrefix)
}

// buildNetem joins the namespaces with a veth pair and shapes both ends.
// It reports false, having removed the pair, when the kernel has no
// netem.
func (l *Lab) buildNetem(ctx context.Context, ifPrefix string) (bool, error) {
	va, vb := ifPrefix+"va", ifPrefix+"vb"
	if err := ip(ctx, "link", "add", va, "netns", l.NSA, "type", "veth", "peer", "name", vb, "netns", l.NSB); err != nil {
		return false, err
	}
	for _, end := range []struct{ ns, dev, addr string }{{l.NSA, va, l.AddrA + "/24"}, {l.NSB, vb, l.AddrB + "/24"}} {
		if err := ip(ctx, "-n", end.ns, "addr", "add", end.addr, "dev", end.dev); err != nil {
			return false, err
		}
		if err := ip(ctx, "-n", end.ns, "link", "set", end.dev, "up"); err != nil {
			return false, err
		}
		args := append([]string{"netns", "exec", end.ns, "tc", "qdisc", "add", "dev", end.dev, "root", "netem"}, l.Cond.netemArgs()...)
		if err := ip(ctx, args...); err != nil {
			if !strings.Contains(err.Error(), "qdisc kind is unknown") {
				return false, err
			}
			// Deleting one end removes the pair.
			if derr := ip(ctx, "-n", l.NSA, "link", "del", va); derr != nil {
				return false, derr
			}
			return false, nil
		}
	}
	l.Mode, l.devA, l.devB = ModeNetem, va, vb
	return true, nil
}

// buildUserspace joins the namespaces with two TUN devices and the wire
// between them.
func (l *Lab) buildUserspace(ctx context.Context, ifPrefix string) error {
	ta, tb := ifPrefix+"ta", ifPrefix+"tb"
	fa, err := openTUN(ta)
	if err != nil {
		return err
	}
	fb, err := openTUN(tb)
	if err != nil {
		_ = fa.Close()
		return err
	}
	l.wire = startWire(fa, fb, l.Cond)
	l.Mode, l.devA, l.devB = ModeUserspace, ta, tb
	// The devices were made in our namespace; they keep their file
	// descriptors when moved.
	for _, end := range []struct{ ns, dev, addr, peer string }{{l.NSA, ta, l.AddrA, l.AddrB}, {l.NSB, tb, l.AddrB, l.AddrA}} {
		if err := ip(ctx, "link", "set", end.dev, "netns", end.ns); err != nil {
			return err
		}
		if err := ip(ctx, "-n", end.ns, "addr", "add", end.addr, "peer", end.peer, "dev", end.dev); err != nil {
			return err
		}
		if err := ip(ctx, "-n", end.ns, "link", "set", end.dev, "up"); err != nil {
			return err
		}
	}
	return nil
}

// SetCondition changes what the link does from now on, in both
// directions: a loss burst, a partition (Loss 100), a recovery.
func (l *Lab) SetCondition(ctx context.Context, cond Condition) error {
	if l.wire != nil {
		l.wire.setCondition(cond)
		l.Cond = cond
		return nil
	}
	for _, dev := range []struct{ ns, name string }{{l.NSA, l.devA}, {l.NSB, l.devB}} {
		args := append([]string{"netns", "exec", dev.ns, "tc", "qdisc", "change", "dev", dev.name, "root", "netem"}, cond.netemArgs()...)
		if err := ip(ctx, args...); err != nil {
			return err
		}
	}
	l.Cond = cond
	return nil
}

// Priority is the nice value the lab's processes and its userspace link
// run at. A lab measures time: on a machine busy with other work (CI runs
// test packages side by side), processes that wait for a CPU read as
// delay and jitter the link never imposed. netem runs in the kernel and
// is not delayed that way; the userspace link and the endpoints are
// raised above ordinary work instead.
const Priority = -15

// Command returns a command that runs name with args inside namespace ns,
// at Priority.
func (l *Lab) Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nice", append([]string{"-n", fmt.Sprint(Priority), "ip", "netns", "exec", ns, name}, args...)...)
}

// Stats are what the userspace link did (zero for netem, which the kernel
// counts).
type Stats struct {
	AtoB, BtoA DirectionStats
}

// DirectionStats counts one direction's packets, and among them the RTP
// packets (the media, without RTCP, STUN or DTLS).
type DirectionStats struct {
	Packets, Dropped int64
	RTP, RTPDropped  int64
}

// RTPLossPercent is the share of RTP packets the link dropped.
func (d DirectionStats) RTPLossPercent() float64 {
	if d.RTP == 0 {
		return 0
	}
	return 100 * float64(d.RTPDropped) / float64(d.RTP)
}

// Stats returns the userspace link's counters so far.
func (l *Lab) Stats() Stats {
	if l.wire == nil {
		return Stats{}
	}
	return l.wire.stats()
}

// Close stops the link and deletes both namespaces (and with them the
// devices in them). Processes still running in a namespace keep it alive
// until they exit: stop them first. It is safe to call more than once.
func (l *Lab) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	var errs []error
	if l.wire != nil {
		errs = append(errs, l.wire.close())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ns := range []string{l.NSA, l.NSB} {
		if err := ip(ctx, "netns", "del", ns); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Exists reports whether namespace ns exists (tests check the cleanup).
func Exists(ns string) bool {
	_, err := os.Stat("/run/netns/" + ns)
	return err == nil
}

var ipMu sync.Mutex // iproute2 commands of parallel labs, one at a time

func ip(ctx context.Context, args ...string) error {
	ipMu.Lock()
	defer ipMu.Unlock()
	cmd := exec.CommandContext(ctx, "ip", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("netlab: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
