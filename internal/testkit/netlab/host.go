//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
)

// Host is a network namespace that stands for a host of its own: joined to
// the test's namespace by a veth pair, with a default route through it, so
// that its processes reach what the test serves on Gateway (or any other
// address of the test's namespace) and the test reaches them on Addr.
// Unlike a Lab's link the pair is not shaped.
type Host struct {
	NS      string // for "ip netns exec"
	Addr    string // the host's address, in its namespace
	Gateway string // the test's end of the pair, in the test's namespace

	dev    string // the test's end, deleted with the namespace's
	closed atomic.Bool
}

var hosts atomic.Int64

// NewHost makes a host. Its /30 lies in 10.203.0.0/16, picked from the
// process id and a counter so that parallel tests do not collide. On error
// nothing is left behind; Close removes everything.
func NewHost(ctx context.Context) (*Host, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("netlab: the ip command (iproute2) is missing: %w", err)
	}
	n := hosts.Add(1)
	tag := fmt.Sprintf("%05x%02x", os.Getpid()&0xfffff, n&0xff)
	third := (os.Getpid() >> 6) & 0xff
	fourth := int(n%64) * 4
	h := &Host{
		NS:      "callstat-host-" + tag,
		Gateway: fmt.Sprintf("10.203.%d.%d", third, fourth+1),
		Addr:    fmt.Sprintf("10.203.%d.%d", third, fourth+2),
		dev:     "csh" + tag + "g",
	}
	if err := h.build(ctx, "csh"+tag+"n"); err != nil {
		return nil, errors.Join(err, h.Close())
	}
	return h, nil
}

func (h *Host) build(ctx context.Context, inner string) error {
	steps := [][]string{
		{"netns", "add", h.NS},
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"link", "add", h.dev, "type", "veth", "peer", "name", inner, "netns", h.NS},
		{"addr", "add", h.Gateway + "/30", "dev", h.dev},
		{"link", "set", h.dev, "up"},
		{"-n", h.NS, "addr", "add", h.Addr + "/30", "dev", inner},
		{"-n", h.NS, "link", "set", inner, "up"},
		{"-n", h.NS, "route", "add", "default", "via", h.Gateway},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// Command returns a command that runs name with args inside the host.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Close deletes the namespace (and with it the pair). Stop the processes
// in it first. It is safe to call more than once.
func (h *Host) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if err := ip(ctx, "netns", "del", h.NS); err != nil && !strings.Contains(err.Error(), "No such file") {
		errs = append(errs, err)
	}
	// Deleting the namespace deletes the pair; a pair whose inner end
	// never moved in is ours to delete.
	if err := ip(ctx, "link", "del", h.dev); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
