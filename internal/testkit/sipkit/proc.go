// Package sipkit runs the real SIP servers and user agents that callstat's
// SIP tests talk to — Debian's kamailio, rtpengine and baresip — each
// started on loopback ports chosen by the test, and stopped by it.
//
// Nothing here skips: a missing program fails the test with the Debian
// package to install (make test-deps installs them all).
package sipkit

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to listen.
const startTimeout = 15 * time.Second

// proc is a process started by a test, in its own process group so that
// the children it forks (kamailio forks a dozen) go with it.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
	once sync.Once
}

// start runs path with args, its output kept for the test's log.
func start(t testing.TB, name, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output (last 6000 bytes):\n%s", name, tail(p.out.String(), 6000))
		}
	})
	return p
}

// stop asks the process group to terminate, and kills it if it lingers.
func (p *proc) stop() {
	p.once.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		// Children that outlived their parent.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	})
}

// kill ends the process group at once, as a crash would.
func (p *proc) kill() {
	p.once.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitTCP waits until something accepts connections on addr, or the
// process dies.
func (p *proc) waitTCP(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before listening on %s: %v", p.name, addr, p.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not listen on %s within %s", p.name, addr, startTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitOutput waits until the process has printed want, or dies.
func (p *proc) waitOutput(ctx context.Context, want string) error {
	for {
		if strings.Contains(p.out.String(), want) {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before printing %q: %v", p.name, want, p.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not print %q within the deadline", p.name, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lookPath finds a program or fails the test naming its Debian package.
func lookPath(t testing.TB, prog, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(prog)
	if err != nil {
		t.Fatalf("%s not found (%v): install Debian's %s (make test-deps does)", prog, err, pkg)
	}
	return path
}

// FreePort returns a loopback TCP or UDP port that nothing listens on now.
func FreePort(t testing.TB, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}

// RepoFile is the path of a file of the repository (testdata/…).
func RepoFile(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the test's directory; cannot find %s", rel)
		}
		dir = parent
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
