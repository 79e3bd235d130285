package ui

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/stats"
)

// screen is a minimal terminal: it understands exactly the bytes a
// Terminal may send (text, \n, \r, ESC[K, ESC[1A) and fails on anything
// else, so that the test sees what a person would.
type screen struct {
	t        *testing.T
	rows     [][]rune
	row, col int
	mu       sync.Mutex
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := []rune(string(p))
	for i := 0; i < len(in); i++ {
		for len(s.rows) <= s.row {
			s.rows = append(s.rows, nil)
		}
		switch r := in[i]; {
		case r == '\n':
			s.row++
			s.col = 0
		case r == '\r':
			s.col = 0
		case r == 0x1b:
			seq := string(in[i:min(i+4, len(in))])
			switch {
			case strings.HasPrefix(seq, "\x1b[K"):
				s.rows[s.row] = s.rows[s.row][:min(s.col, len(s.rows[s.row]))]
				i += 2
			case strings.HasPrefix(seq, "\x1b[1A"):
				if s.row == 0 {
					s.t.Errorf("cursor moved above the screen")
				}
				s.row--
				i += 3
			default:
				s.t.Errorf("unexpected escape sequence %q", seq)
			}
		case r < ' ':
			s.t.Errorf("unexpected control character %q", r)
		default:
			line := s.rows[s.row]
			for len(line) <= s.col {
				line = append(line, ' ')
			}
			line[s.col] = r
			s.rows[s.row] = line
			s.col++
		}
	}
	return len(p), nil
}

// lines is the screen's text, without the empty rows at the bottom.
func (s *screen) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.rows {
		out = append(out, strings.TrimRight(string(r), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

type fixedView struct {
	mu    sync.Mutex
	lines []string
}

func (v *fixedView) Lines(time.Time) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.lines...)
}

func (v *fixedView) set(lines ...string) {
	v.mu.Lock()
	v.lines = lines
	v.mu.Unlock()
}

func TestLogLinesScrollAboveTheStatus(t *testing.T) {
	scr := &screen{t: t}
	term := NewTerminal(scr, func() int { return 200 })
	fmt.Fprintln(term, "before the call")
	view := &fixedView{}
	view.set("call 1: Ringing")
	stop := term.Show(view, time.Hour)
	if got := scr.lines(); strings.Join(got, "|") != "before the call|call 1: Ringing" {
		t.Fatalf("screen %q", got)
	}
	fmt.Fprintln(term, "log line one")
	view.set("call 1: Connected", "call 2: Ringing")
	fmt.Fprintln(term, "log line two")
	want := "before the call|log line one|log line two|call 1: Connected|call 2: Ringing"
	if got := strings.Join(scr.lines(), "|"); got != want {
		t.Fatalf("screen %q\nwant   %q", got, want)
	}
	// Fewer lines than before: the extra one is erased.
	view.set("call 2: Ringing")
	term.Refresh()
	if got := strings.Join(scr.lines(), "|"); got != "before the call|log line one|log line two|call 2: Ringing" {
		t.Fatalf("screen %q", got)
	}
	stop()
	stop() // safe twice
	fmt.Fprintln(term, "after the call")
	if got := strings.Join(scr.lines(), "|"); got != "before the call|log line one|log line two|after the call" {
		t.Fatalf("after stop the status must be gone: %q", got)
	}
}

func TestStatusNeverDrawnUnderAHalfLine(t *testing.T) {
	scr := &screen{t: t}
	term := NewTerminal(scr, nil)
	view := &fixedView{}
	view.set("status")
	stop := term.Show(view, time.Hour)
	defer stop()
	fmt.Fprint(term, "partial ")
	term.Refresh()
	fmt.Fprint(term, "line\n")
	if got := strings.Join(scr.lines(), "|"); got != "partial line|status" {
		t.Fatalf("screen %q", got)
	}
}

func TestStatusLinesFitTheWidth(t *testing.T) {
	scr := &screen{t: t}
	term := NewTerminal(scr, func() int { return 20 })
	view := &fixedView{}
	view.set(strings.Repeat("x", 50), "a\tb\x1b[31mc")
	stop := term.Show(view, time.Hour)
	defer stop()
	got := scr.lines()
	if len(got) != 2 || len([]rune(got[0])) != 19 || !strings.HasSuffix(got[0], "…") || got[1] != "a b [31mc" {
		t.Fatalf("screen %q", got)
	}
}

// Logs from many goroutines and periodic redraws: every log line arrives
// whole and the status stays last.
func TestConcurrentLogsAndRedraws(t *testing.T) {
	scr := &screen{t: t}
	term := NewTerminal(scr, func() int { return 200 })
	view := &fixedView{}
	view.set("status A", "status B")
	stop := term.Show(view, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				fmt.Fprintf(term, "goroutine %d line %d\n", g, i)
				term.Refresh()
			}
		}()
	}
	wg.Wait()
	got := scr.lines()
	if len(got) != 202 || got[200] != "status A" || got[201] != "status B" {
		t.Fatalf("%d lines, last %q", len(got), got[len(got)-2:])
	}
	for _, l := range got[:200] {
		if !strings.HasPrefix(l, "goroutine ") || strings.Contains(l, "status") {
			t.Fatalf("mangled log line %q", l)
		}
	}
	stop()
}

func TestCallsLine(t *testing.T) {
	start := time.Unix(1000, 0)
	l := &callLine{local: "bob", remote: "alice", dir: "outgoing", state: "Ringing", started: start}
	if got := l.line(start.Add(3500 * time.Millisecond)); got != "bob -> alice  Ringing    00:03" {
		t.Errorf("line = %q", got)
	}
	sample := func(at time.Duration, sent, rcv, pkts, lost float64) stats.Sample {
		return stats.Sample{Time: start.Add(at), Objects: []stats.Object{
			{"type": "candidate-pair", "nominated": true, "currentRoundTripTime": 0.002},
			{"type": "outbound-rtp", "bytesSent": sent},
			{"type": "remote-inbound-rtp", "roundTripTime": 0.0405},
			{"type": "inbound-rtp", "bytesReceived": rcv, "packetsReceived": pkts, "packetsLost": lost, "jitter": 0.0031},
		}}
	}
	l.state, l.connected = "Connected", start.Add(time.Second)
	l.take(sample(2*time.Second, 4000, 4000, 100, 0))
	l.take(sample(3*time.Second, 8000, 7000, 145, 5))
	want := "bob -> alice  Connected  1:05:02  rtt 40 ms  jitter 3.1 ms  loss 10.0%  up 32 kbit/s  down 24 kbit/s"
	if got := l.line(start.Add(time.Hour + 5*time.Minute + 3*time.Second)); got != want {
		t.Errorf("line = %q\nwant   %q", got, want)
	}
}

func TestCallsLinesAreBounded(t *testing.T) {
	v := &Calls{}
	for i := range MaxCallLines + 3 {
		v.calls = append(v.calls, &callLine{local: "a", remote: fmt.Sprint(i), state: "Connected"})
	}
	got := v.Lines(time.Now())
	if len(got) != MaxCallLines || got[MaxCallLines-1] != "… and 4 more calls" {
		t.Errorf("lines %q", got)
	}
	var buf bytes.Buffer
	term := NewTerminal(&buf, nil)
	stop := term.Show(&Calls{}, time.Hour)
	stop()
	if buf.Len() != 0 {
		t.Errorf("an empty view drew %q", buf.String())
	}
}

// stdout on the same screen: data lines land above the status too.
func TestAboveWritesOtherStreamAboveTheStatus(t *testing.T) {
	scr := &screen{t: t}
	term := NewTerminal(scr, func() int { return 200 })
	stdout := term.Above(scr)
	view := &fixedView{}
	view.set("status")
	stop := term.Show(view, time.Hour)
	fmt.Fprintln(stdout, "data line")
	fmt.Fprintln(term, "log line")
	if got := strings.Join(scr.lines(), "|"); got != "data line|log line|status" {
		t.Fatalf("screen %q", got)
	}
	stop()
}
