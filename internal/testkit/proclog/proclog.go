// Package proclog runs a callstat process and follows the JSON log lines
// it writes on stderr (--log-format json), so that a caller can wait for
// one: what the end-to-end tests and the benchmark runner drive real
// processes with.
package proclog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Errors of Await and AwaitCount.
var (
	// ErrExited: the process exited before logging the line.
	ErrExited = errors.New("exited before logging it")
	// ErrTimeout: the line did not come in time.
	ErrTimeout = errors.New("not logged in time")
)

// maxLine is the longest stderr line kept (a load summary is long).
const maxLine = 16 << 20

// Proc is a started process whose stderr lines are being read.
type Proc struct {
	cmd *exec.Cmd

	mu     sync.Mutex
	stdout bytes.Buffer
	lines  []map[string]any // the lines that parsed as JSON objects, in order
	raw    []string         // every line
	grew   chan struct{}    // closed and replaced when a line arrives
	done   chan struct{}    // closed once the process has exited and its stderr is read
	err    error            // cmd.Wait's
}

// Start starts cmd, collecting its stdout and following its stderr. The
// process's end is Done; a caller that stops caring must kill it.
func Start(cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{cmd: cmd, grew: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.stdout}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go p.follow(stderr)
	return p, nil
}

// follow reads stderr to its end, then waits for the process.
func (p *Proc) follow(stderr io.Reader) {
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), maxLine)
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
	// A line longer than maxLine stops the scanner: drain the rest so the
	// process never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, stderr)
	err := p.cmd.Wait()
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
	close(p.done)
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

// Cmd is the command started.
func (p *Proc) Cmd() *exec.Cmd { return p.cmd }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and its stderr is read.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is what waiting for the process returned (an *exec.ExitError for a
// non-zero exit); nil before Done.
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// ExitCode waits for the process and returns its exit code (-1 when a
// signal ended it).
func (p *Proc) ExitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// Lines returns the JSON lines logged so far. The slice is never written
// again: later lines go to a longer one.
func (p *Proc) Lines() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines[:len(p.lines):len(p.lines)]
}

// Stderr is everything written on stderr so far.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.raw, "\n")
}

// Tail is the last n lines of stderr.
func (p *Proc) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.raw[max(0, len(p.raw)-n):], "\n")
}

// Stdout is everything written on stdout so far.
func (p *Proc) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// Match matches the lines whose "msg" is msg and whose attributes include
// want (compared as printed, so 200 matches 200.0 from JSON).
func Match(msg string, want map[string]any) func(map[string]any) bool {
	return func(line map[string]any) bool {
		if line["msg"] != msg {
			return false
		}
		for k, v := range want {
			if fmt.Sprint(line[k]) != fmt.Sprint(v) {
				return false
			}
		}
		return true
	}
}

// Await waits up to timeout for the first line that match accepts, from
// the start of the process, and returns it.
func (p *Proc) Await(timeout time.Duration, match func(map[string]any) bool) (map[string]any, error) {
	line, _, err := p.await(timeout, match, 1)
	return line, err
}

// AwaitCount waits up to timeout until n lines that match accepts have
// been logged; it returns how many there were.
func (p *Proc) AwaitCount(timeout time.Duration, match func(map[string]any) bool, n int) (int, error) {
	_, count, err := p.await(timeout, match, n)
	return count, err
}

// await waits for the nth line that match accepts and returns it, with
// the count of those seen.
func (p *Proc) await(timeout time.Duration, match func(map[string]any) bool, n int) (map[string]any, int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen, count := 0, 0
	for {
		p.mu.Lock()
		lines, grew := p.lines, p.grew
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if match(lines[seen]) {
				if count++; count >= n {
					return lines[seen], count, nil
				}
			}
		}
		select {
		case <-grew:
		case <-p.done:
			if len(p.Lines()) == seen {
				return nil, count, ErrExited
			}
		case <-deadline.C:
			return nil, count, ErrTimeout
		}
	}
}
