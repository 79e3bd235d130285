// Package ui is callstat's terminal presentation: live status lines at the
// bottom of a terminal while log lines scroll above them (Terminal, and
// its views Calls and Load), what a run shows while its calls go (Live:
// the status and the --events stream), and the results shown beside the
// logs (Output: call summaries, --assert breaches, a load run's summary;
// the summary table).
//
// A Terminal owns the stream (stderr): every write goes through it, so a
// log line first clears the status lines, is written whole, and the
// status is drawn again below it. What the lines say is a View's
// business: Calls shows one line per call in progress; Load (load mode's
// calls up/failed, setup p95, loss) is another View on the same Terminal.
//
// Status lines are only for terminals: on a pipe or a file (CI) callstat
// never creates a Terminal, and stderr carries log lines only, without
// control characters.
package ui

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// View says what the status lines show at a moment. Lines must not block:
// it runs under the terminal's lock.
type View interface {
	Lines(now time.Time) []string
}

// Control sequences (ECMA-48): carriage return, erase to end of line,
// cursor up one line.
const (
	eraseLine = "\r\x1b[K"
	cursorUp  = "\x1b[1A"
)

// DefaultRefresh is how often the status is redrawn when nothing else
// happens (elapsed times move on).
const DefaultRefresh = time.Second

// Terminal is an io.Writer for a terminal that keeps a View's lines below
// everything else written.
type Terminal struct {
	out   io.Writer
	width func() int
	now   func() time.Time

	mu      sync.Mutex
	view    View
	drawn   int  // status lines on screen; the cursor ends the last one
	midLine bool // the last write did not end its line: do not draw under it
	stop    chan struct{}
	done    chan struct{}
}

// NewTerminal wraps out, a terminal; width reports its columns (nil: 80).
func NewTerminal(out io.Writer, width func() int) *Terminal {
	if width == nil {
		width = func() int { return 80 }
	}
	return &Terminal{out: out, width: width, now: time.Now}
}

// Write writes p above the status lines.
func (t *Terminal) Write(p []byte) (int, error) { return t.writeAbove(t.out, p) }

// Above returns a writer for another stream shown on the same screen
// (stdout, when it is the terminal too): what it writes also lands above
// the status lines instead of inside one.
func (t *Terminal) Above(w io.Writer) io.Writer { return aboveWriter{t: t, w: w} }

type aboveWriter struct {
	t *Terminal
	w io.Writer
}

func (a aboveWriter) Write(p []byte) (int, error) { return a.t.writeAbove(a.w, p) }

// writeAbove erases the status lines, writes p to w, and draws them again
// below it, all under the lock so that nothing interleaves.
func (t *Terminal) writeAbove(w io.Writer, p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var buf bytes.Buffer
	t.clear(&buf)
	if w != t.out && buf.Len() > 0 {
		if _, err := t.out.Write(buf.Bytes()); err != nil {
			return 0, err
		}
		buf.Reset()
	}
	if w != t.out {
		if n, err := w.Write(p); err != nil {
			return n, err
		}
	} else {
		buf.Write(p)
	}
	if len(p) > 0 {
		t.midLine = p[len(p)-1] != '\n'
	}
	t.draw(&buf)
	if buf.Len() > 0 {
		if _, err := t.out.Write(buf.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Show draws v until the returned function is called, redrawing every
// refresh and whenever Refresh is called. The function removes the lines
// and waits for the redraw goroutine. One view at a time.
func (t *Terminal) Show(v View, refresh time.Duration) (stop func()) {
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	t.mu.Lock()
	t.view = v
	t.stop, t.done = make(chan struct{}), make(chan struct{})
	stopCh, done := t.stop, t.done
	t.mu.Unlock()
	t.Refresh()
	go func() {
		defer close(done)
		tick := time.NewTicker(refresh)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				t.Refresh()
			case <-stopCh:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stopCh)
			<-done
			t.mu.Lock()
			defer t.mu.Unlock()
			var buf bytes.Buffer
			t.clear(&buf)
			t.view = nil
			_, _ = t.out.Write(buf.Bytes())
		})
	}
}

// Refresh redraws the status lines now.
func (t *Terminal) Refresh() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.view == nil {
		return
	}
	var buf bytes.Buffer
	t.clear(&buf)
	t.draw(&buf)
	if buf.Len() > 0 {
		_, _ = t.out.Write(buf.Bytes())
	}
}

// clear erases the status lines, leaving the cursor at the start of the
// first one.
func (t *Terminal) clear(buf *bytes.Buffer) {
	if t.drawn == 0 {
		return
	}
	buf.WriteString(eraseLine)
	for i := 1; i < t.drawn; i++ {
		buf.WriteString(cursorUp)
		buf.WriteString("\x1b[K")
	}
	t.drawn = 0
}

// draw writes the view's lines, each cut to the terminal's width so that
// none wraps (a wrapped line would break the count clear relies on).
func (t *Terminal) draw(buf *bytes.Buffer) {
	if t.view == nil || t.midLine {
		return
	}
	lines := t.view.Lines(t.now())
	w := max(t.width()-1, 10)
	for i, l := range lines {
		if i > 0 {
			buf.WriteByte('\n')
		}
		buf.WriteString(truncate(sanitize(l), w))
	}
	t.drawn = len(lines)
}

// sanitize keeps a status line on one line.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func truncate(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}
