package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a running callstat process whose JSON log lines can be awaited.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout bytes.Buffer

	mu    sync.Mutex
	lines []map[string]any
	raw   []string
	grew  chan struct{}
	done  chan struct{}
	err   error
}

// start runs the callstat binary with JSON logs at info level.
func start(ctx context.Context, binary, name string, env []string, args ...string) (*proc, error) {
	args = append([]string{"--log-format", "json", "--log-level", "info"}, args...)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{name: name, cmd: cmd, grew: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.stdout}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			var m map[string]any
			_ = json.Unmarshal([]byte(line), &m)
			p.mu.Lock()
			p.raw = append(p.raw, line)
			if m != nil {
				p.lines = append(p.lines, m)
			}
			close(p.grew)
			p.grew = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	go func() {
		<-read
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// waitLog waits for a log line with msg, and returns it.
func (p *proc) waitLog(timeout time.Duration, msg string) (map[string]any, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		p.mu.Lock()
		lines, grew := p.lines, p.grew
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if lines[seen]["msg"] == msg {
				return lines[seen], nil
			}
		}
		select {
		case <-grew:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if n == seen {
				return nil, fmt.Errorf("%s exited before logging %q:\n%s", p.name, msg, p.tail())
			}
		case <-deadline.C:
			return nil, fmt.Errorf("%s did not log %q within %s:\n%s", p.name, msg, timeout, p.tail())
		}
	}
}

// tail is the end of what the process wrote on stderr.
func (p *proc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	from := max(0, len(p.raw)-15)
	return strings.Join(p.raw[from:], "\n")
}

// wait waits for the process to exit.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s still running after %s", p.name, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return p.err
	}
	return nil
}

func (p *proc) exitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// stop ends the process with SIGTERM (it hangs up and flushes) and waits.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
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
