//go:build linux

package netlab

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
	"golang.org/x/sys/unix"
)

func TestConditionString(t *testing.T) {
	tests := []struct {
		c    Condition
		want string
	}{
		{Condition{}, "delay 0ms"},
		{Condition{Delay: 50 * time.Millisecond}, "delay 50ms"},
		{Condition{Delay: 40 * time.Millisecond, Jitter: 15 * time.Millisecond}, "delay 40ms 15ms"},
		{Condition{Loss: 5}, "loss 5%"},
		{Condition{Delay: 1500 * time.Microsecond, Loss: 0.5}, "delay 1500us loss 0.5%"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%+v = %q, want %q", tt.c, got, tt.want)
		}
	}
}

// packetPipe is a connected pair of packet sockets standing in for a TUN
// device: what one end writes, the other reads as one packet.
func packetPipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "near"), os.NewFile(uintptr(fds[1]), "far")
}

// arrivals sends n numbered packets into a wire under cond, one every gap,
// and returns for each packet that came out its number and its delay.
func arrivals(t *testing.T, cond Condition, n int, gap time.Duration) ([]int, []time.Duration, Stats) {
	t.Helper()
	inNear, inFar := packetPipe(t)   // test -> wire
	outNear, outFar := packetPipe(t) // wire -> test
	defer inNear.Close()
	defer outFar.Close()
	// The wire's other direction reads from outNear and writes to inFar;
	// nothing is sent that way.
	w := startWire(inFar, outNear, cond)
	sent := make([]time.Time, n)
	for i := 0; i < n; i++ {
		sent[i] = time.Now()
		if _, err := inNear.Write([]byte{byte(i >> 8), byte(i)}); err != nil {
			t.Fatal(err)
		}
		if gap > 0 {
			time.Sleep(gap) // pacing the sender, not synchronising
		}
	}
	var order []int
	var delays []time.Duration
	buf := make([]byte, 16)
	deadline := time.Now().Add(10*time.Second + cond.Delay + cond.Jitter)
	for {
		st := w.stats()
		if int64(len(order))+st.AtoB.Dropped == int64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d packets came out (%d dropped)", len(order), n, st.AtoB.Dropped)
		}
		_ = outFar.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		k, err := outFar.Read(buf)
		if err != nil {
			continue
		}
		if k != 2 {
			t.Fatalf("packet of %d bytes, want 2", k)
		}
		i := int(buf[0])<<8 | int(buf[1])
		order = append(order, i)
		delays = append(delays, time.Since(sent[i]))
	}
	st := w.stats()
	if err := w.close(); err != nil {
		t.Errorf("close: %v", err)
	}
	return order, delays, st
}

func TestWireDelaysInOrder(t *testing.T) {
	defer test.CheckRoutines(t)()
	cond := Condition{Delay: 30 * time.Millisecond}
	order, delays, st := arrivals(t, cond, 50, 2*time.Millisecond)
	if st.AtoB.Packets != 50 || st.AtoB.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
	for k, i := range order {
		if i != k {
			t.Fatalf("packet %d came out in place %d: without jitter the order is kept", i, k)
		}
		if delays[k] < cond.Delay {
			t.Errorf("packet %d delayed %s, less than %s", i, delays[k], cond.Delay)
		}
	}
}

func TestWireJitterSpreadsDelays(t *testing.T) {
	defer test.CheckRoutines(t)()
	cond := Condition{Delay: 40 * time.Millisecond, Jitter: 15 * time.Millisecond}
	_, delays, _ := arrivals(t, cond, 200, time.Millisecond)
	lo, hi := delays[0], delays[0]
	for _, d := range delays {
		lo, hi = min(lo, d), max(hi, d)
		if d < cond.Delay-cond.Jitter {
			t.Errorf("delay %s below %s", d, cond.Delay-cond.Jitter)
		}
	}
	// 200 uniform draws over ±15 ms span nearly 30 ms.
	if hi-lo < 20*time.Millisecond {
		t.Errorf("delays span %s..%s, want about 25..55 ms", lo, hi)
	}
}

func TestWireLoss(t *testing.T) {
	defer test.CheckRoutines(t)()
	const n = 4000
	_, _, st := arrivals(t, Condition{Loss: 5}, n, 0)
	// 5 % of 4000: 200, sd 14; 130..270 is 5 sd.
	if st.AtoB.Dropped < 130 || st.AtoB.Dropped > 270 {
		t.Errorf("dropped %d of %d, want about 200", st.AtoB.Dropped, n)
	}
}

// A lab is created and removed, namespaces and all.
func TestLabLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, Condition{Delay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err) // not root: the message says so
	}
	if !Exists(lab.NSA) || !Exists(lab.NSB) || lab.NSA == lab.NSB {
		t.Fatalf("namespaces %s, %s not created", lab.NSA, lab.NSB)
	}
	if lab.Mode != ModeNetem && lab.Mode != ModeUserspace {
		t.Errorf("mode %q", lab.Mode)
	}
	t.Logf("link: %s (%s)", lab.Mode, lab.Cond)
	out, err := lab.Command(ctx, lab.NSA, "ip", "-o", "addr", "show").CombinedOutput()
	if err != nil || !strings.Contains(string(out), lab.AddrA) {
		t.Errorf("namespace A addresses: %s %v", out, err)
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if Exists(lab.NSA) || Exists(lab.NSB) {
		t.Error("namespaces left behind after Close")
	}
	if err := lab.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestIsRTP(t *testing.T) {
	ipv4 := func(proto byte, payload ...byte) []byte {
		p := make([]byte, 20+8)
		p[0], p[9] = 0x45, proto
		return append(p, append(payload, make([]byte, 12)...)...)
	}
	ipv6 := func(payload ...byte) []byte {
		p := make([]byte, 40+8)
		p[0], p[6] = 0x60, 17
		return append(p, append(payload, make([]byte, 12)...)...)
	}
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"RTP opus", ipv4(17, 0x80, 111), true},
		{"RTP with marker", ipv4(17, 0x80, 0x80|111), true},
		{"RTP over IPv6", ipv6(0x80, 111), true},
		{"RTCP sender report", ipv4(17, 0x80, 200), false},
		{"RTCP receiver report", ipv4(17, 0x81, 201), false},
		{"RTCP XR", ipv4(17, 0x80, 207), false},
		{"STUN", ipv4(17, 0x00, 0x01), false},
		{"DTLS", ipv4(17, 23, 0xfe), false},
		{"TCP", ipv4(6, 0x80, 111), false},
		{"short", []byte{0x45, 0}, false},
	}
	for _, tt := range tests {
		if got := isRTP(tt.pkt); got != tt.want {
			t.Errorf("%s: isRTP = %v", tt.name, got)
		}
	}
}

// A host reaches the test's namespace through its gateway, and is gone
// after Close.
func TestHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal(ErrNotRoot)
	}
	ctx := context.Background()
	h, err := NewHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(h.Gateway, "0"))
	if err != nil {
		_ = h.Close()
		t.Fatal(err)
	}
	accepted := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c.RemoteAddr().String()
			_ = c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	out, err := h.Command(ctx, "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", h.Gateway, port)).CombinedOutput()
	_ = ln.Close()
	if err != nil {
		t.Errorf("connecting from the host: %v: %s", err, out)
	} else if from := <-accepted; !strings.HasPrefix(from, h.Addr+":") {
		t.Errorf("connection from %s, want the host's address %s", from, h.Addr)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if Exists(h.NS) {
		t.Errorf("namespace %s left behind", h.NS)
	}
}
