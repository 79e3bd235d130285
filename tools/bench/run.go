package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/callstat/callstat/internal/testkit/proclog"
)

// proc is a running callstat process whose JSON log lines can be awaited.
type proc struct {
	*proclog.Proc
	name string
}

// start runs the callstat binary with JSON logs at info level.
func start(ctx context.Context, binary, name string, env []string, args ...string) (*proc, error) {
	args = append([]string{"--log-format", "json", "--log-level", "info"}, args...)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	p, err := proclog.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	return &proc{Proc: p, name: name}, nil
}

func (p *proc) pid() int { return p.Pid() }

// waitLog waits for a log line with msg, and returns it.
func (p *proc) waitLog(timeout time.Duration, msg string) (map[string]any, error) {
	line, err := p.Await(timeout, proclog.Match(msg, nil))
	if err != nil {
		return nil, fmt.Errorf("%s: %q: %w (within %s):\n%s", p.name, msg, err, timeout, p.Tail(15))
	}
	return line, nil
}

// wait waits for the process to exit.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.Done():
	case <-time.After(timeout):
		_ = p.Cmd().Process.Kill()
		<-p.Done()
		return fmt.Errorf("%s still running after %s", p.name, timeout)
	}
	var ee *exec.ExitError
	if err := p.Err(); err != nil && !errors.As(err, &ee) {
		return err
	}
	return nil
}

func (p *proc) exitCode() int { return p.ExitCode() }

// stop ends the process with SIGTERM (it hangs up and flushes) and waits.
func (p *proc) stop() {
	select {
	case <-p.Done():
		return
	default:
	}
	_ = p.Cmd().Process.Signal(syscall.SIGTERM)
	if err := p.wait(30 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
}

// server runs callstat serve on a free loopback port.
type server struct {
	p   *proc
	url string
}

func startServer(ctx context.Context, binary string, extra ...string) (*server, error) {
	p, err := start(ctx, binary, "serve", nil, append([]string{"serve", "--listen", "127.0.0.1:0"}, extra...)...)
	if err != nil {
		return nil, err
	}
	line, err := p.waitLog(10*time.Second, "signaling server listening")
	if err != nil {
		p.stop()
		return nil, err
	}
	url, _ := line["ws"].(string)
	return &server{p: p, url: url}, nil
}

// pageURL is the browser page served next to the WebSocket.
func (s *server) pageURL() string {
	return strings.TrimSuffix(strings.Replace(s.url, "ws://", "http://", 1), "/ws") + "/"
}
