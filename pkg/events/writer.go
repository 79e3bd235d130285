package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/stats"
)

// Errors.
var (
	// ErrOpen means the events file could not be created.
	ErrOpen = errors.New("cannot open the events file")
	// ErrWrite means the stream is incomplete: a write failed or the reader
	// did not keep up and events were dropped.
	ErrWrite = errors.New("events stream incomplete")
)

// MaxQueued bounds the events waiting to be written. Calls emit a handful of
// events a second, so the queue only fills when the reader of the stream
// stops reading; events are then dropped (and counted) rather than holding
// up calls or growing without bound.
const MaxQueued = 4096

// Writer writes events as NDJSON from its own goroutine. Emit never blocks
// on I/O: a call's goroutine only encodes the event and queues it. Close
// writes what is queued and waits for the goroutine.
type Writer struct {
	out    io.Writer
	closer io.Closer // nil for standard output, which the process owns
	log    *slog.Logger
	now    func() time.Time

	wake chan struct{} // capacity 1: "the queue is not empty"
	done chan struct{}

	mu            sync.Mutex
	queue         [][]byte
	closing       bool
	dropped       int
	err           error
	lastTimestamp int64 // events never go back in time in the stream

	mediaMu sync.Mutex
	media   map[string]webrtc.ICEConnectionState // last media state per call and participant
}

// Config configures a Writer.
type Config struct {
	// Logger reports dropped events and write failures.
	Logger *slog.Logger
	// Now stamps events (time.Now when nil).
	Now func() time.Time
}

// NewWriter starts a writer on out. When out is an io.Closer, Close closes
// it.
func NewWriter(out io.Writer, cfg Config) *Writer {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Writer{out: out, log: cfg.Logger, now: cfg.Now, wake: make(chan struct{}, 1), done: make(chan struct{}),
		media: map[string]webrtc.ICEConnectionState{}}
	if c, ok := out.(io.Closer); ok {
		w.closer = c
	}
	go w.run()
	return w
}

// Open starts a writer on path, or on stdout when path is "-" (stdout is
// then not closed). A file is created or truncated, as a shell's > would.
func Open(path string, stdout io.Writer, cfg Config) (*Writer, error) {
	if path == "-" {
		return NewWriter(struct{ io.Writer }{stdout}, cfg), nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpen, err)
	}
	return NewWriter(f, cfg), nil
}

// Emit queues one event, stamping it with the current time unless it has a
// timestamp. It does not wait for the write.
func (w *Writer) Emit(ev Event) {
	w.mu.Lock()
	// Stamp and encode under the lock: events from different calls'
	// goroutines must appear in the stream in timestamp order.
	if ev.Timestamp == 0 {
		ev.Timestamp = max(w.now().UnixMilli(), w.lastTimestamp)
	}
	w.lastTimestamp = max(w.lastTimestamp, ev.Timestamp)
	line, err := json.Marshal(ev)
	if err != nil {
		w.mu.Unlock()
		// Samples are made JSON-safe when taken; anything else here is a bug.
		w.log.Error("cannot encode event", "type", ev.Type, "call", ev.CallID, "err", err)
		return
	}
	line = append(line, '\n')
	switch {
	case w.closing || w.err != nil:
		w.dropped++
	case len(w.queue) >= MaxQueued:
		if w.dropped == 0 {
			w.log.Warn("the events stream is not being read; dropping events", "queued", len(w.queue))
		}
		w.dropped++
	default:
		w.queue = append(w.queue, line)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run writes queued lines, in order, in as few writes as possible.
func (w *Writer) run() {
	defer close(w.done)
	var buf []byte
	for {
		<-w.wake
		w.mu.Lock()
		lines, closing := w.queue, w.closing
		w.queue = nil
		w.mu.Unlock()
		buf = buf[:0]
		for _, l := range lines {
			buf = append(buf, l...)
		}
		if len(buf) > 0 {
			if _, err := w.out.Write(buf); err != nil {
				w.mu.Lock()
				if w.err == nil {
					w.err = err
					w.log.Error("cannot write events; later events are dropped", "err", err)
				}
				w.mu.Unlock()
			}
		}
		if closing {
			w.mu.Lock()
			empty := len(w.queue) == 0
			w.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// Close writes every queued event, stops the writer's goroutine and closes
// the file. Events emitted after Close are dropped. It returns an error
// wrapping ErrWrite if the stream is incomplete.
func (w *Writer) Close() error {
	w.mu.Lock()
	already := w.closing
	w.closing = true
	w.mu.Unlock()
	if !already {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	<-w.done
	var closeErr error
	if w.closer != nil && !already {
		closeErr = w.closer.Close()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.err != nil:
		return fmt.Errorf("%w: %v", ErrWrite, w.err)
	case closeErr != nil:
		return fmt.Errorf("%w: %v", ErrWrite, closeErr)
	case w.dropped > 0:
		return fmt.Errorf("%w: %d events dropped because the stream was not read fast enough", ErrWrite, w.dropped)
	}
	return nil
}

// Hooks returns call hooks that emit call:start or call:receive,
// call:stateChange (with call:error after a change that ends a call with an
// error), call:mediaConnectionChange and connection:change.
func (w *Writer) Hooks() call.Hooks {
	return call.Hooks{
		CallStarted: func(c *call.Call) {
			w.mediaMu.Lock()
			w.media[mediaKey(c)] = webrtc.ICEConnectionStateNew
			w.mediaMu.Unlock()
			w.Emit(start(c))
		},
		StateChanged: func(c *call.Call, ch call.StateChange) {
			ev := stateChange(c, ch)
			w.Emit(ev)
			if ev.Error != nil {
				w.Emit(Event{Type: TypeError, Participant: ev.Participant, CallID: ev.CallID, Error: ev.Error})
			}
		},
		MediaChanged: func(c *call.Call, s webrtc.ICEConnectionState) {
			w.mediaMu.Lock()
			prev, ok := w.media[mediaKey(c)]
			if !ok {
				prev = webrtc.ICEConnectionStateNew
			}
			w.media[mediaKey(c)] = s
			w.mediaMu.Unlock()
			w.Emit(mediaChange(c, prev, s))
		},
		CallEnding: func(c *call.Call) {
			w.mediaMu.Lock()
			delete(w.media, mediaKey(c))
			w.mediaMu.Unlock()
		},
		SignalingChanged: func(p *call.Phone, ch call.SignalingChange) { w.Emit(connectionChange(p, ch)) },
	}
}

// OnSample emits call:statsReceived; it is a collect.Config.OnSample.
func (w *Writer) OnSample(s stats.Sample) { w.Emit(statsReceived(s)) }

// OnSampleError emits call:statsReceived with the error that ended a call's
// collection; it is a collect.Config.OnSampleError.
func (w *Writer) OnSampleError(callID, participant string, err error) {
	w.Emit(Event{Type: TypeStatsReceived, Participant: participant, CallID: callID, Error: ErrorOf(err)})
}

// mediaKey tells calls apart: both ends of a call share its id when they
// run in one process.
func mediaKey(c *call.Call) string { return c.Local() + "\x00" + c.ID() }
