// Package collect is the stats collector's runtime: it samples every call
// it tracks once per interval (Collector), commits the samples through a
// stats.Sink with the log entries kept for them (LogBuffer, an slog
// handler), and writes what the sink refuses to a stats file instead
// (fallback.go).
package collect

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/callstat/callstat/pkg/stats"
)

// DefaultInterval is the seed's sampling period.
const DefaultInterval = time.Second

// ErrClosed is returned by Stop after Close.
var ErrClosed = errors.New("stats collector closed")

// Source is a call that can be sampled.
type Source interface {
	ID() string
	CollectStats() (stats.Report, error)
}

// Config configures a Collector.
type Config struct {
	Sink     stats.Sink
	Interval time.Duration
	SDK      stats.SDKInfo
	Logger   *slog.Logger
	// OnSample, if set, sees every sample after it is taken, on the
	// collector's goroutine; it must not block.
	OnSample func(stats.Sample)
	// OnSampleError, if set, sees the failure that ends a call's
	// collection, on the collector's goroutine; it must not block.
	OnSampleError func(callID, participant string, err error)
	// Logs, if set, is drained into every batch the collector commits, and
	// once more when it closes: log entries are stored with the stats,
	// never in a transaction of their own per line.
	Logs *LogBuffer
	// FallbackDirs are where the samples the sink would not take go, as
	// stats files in the seed's format (fallback.go), into the first
	// directory that works: at Close, or earlier when too many wait.
	FallbackDirs []string
	// MaxPending bounds the samples kept in memory while the sink fails
	// (MaxPendingSamples when zero).
	MaxPending int
}

// Collector samples every tracked call once per interval, each call on its
// own phase (its first sample one interval after it started), with one
// goroutine for all calls, and writes samples through one writer goroutine
// that commits whatever is queued in a single transaction. A sample is
// committed as soon as it is taken, so a killed process loses at most one
// interval.
type Collector struct {
	cfg Config
	log *slog.Logger

	cmds   chan command
	writes chan writeOp
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	lastErr error
	written int

	// Owned by the writer goroutine: what the sink refused, retried with
	// every later commit (fallback.go).
	pending   stats.Batch
	failing   bool
	fallbacks []string // files written
	lost      int      // samples neither stored nor written to a file
	spillErr  error
}

type command struct {
	start *startReq
	stop  *stopReq
}

type startReq struct {
	e   *entry
	rec stats.CallRecord
}

type stopReq struct {
	key   string
	end   stats.EndRecord
	final bool
	ack   chan error
}

type writeOp struct {
	batch stats.Batch
	ack   chan error // nil: nobody waits
}

type entry struct {
	src         Source
	callID      string
	participant string
	next        time.Time
	seq         int
	index       int            // in the heap, -1 when not scheduled
	prev        []stats.Object // the last sample, for the interval's quality
}

func entryKey(participant, callID string) string { return participant + "\x00" + callID }

// New starts a collector. Close stops it.
func New(cfg Config) *Collector {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = MaxPendingSamples
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Collector{
		cfg:    cfg,
		log:    cfg.Logger,
		cmds:   make(chan command),
		writes: make(chan writeOp, 256),
		ctx:    ctx,
		cancel: cancel,
	}
	c.wg.Add(2)
	go c.schedule()
	go c.write()
	return c
}

// Interval is the sampling period.
func (c *Collector) Interval() time.Duration { return c.cfg.Interval }

// Start begins collecting a call: its record is stored at once (making room
// in the participant's ring), and it is sampled every interval until Stop.
func (c *Collector) Start(src Source, rec stats.CallRecord) {
	if rec.SDKVersion == "" {
		rec.SDKVersion = c.cfg.SDK.Version
	}
	e := &entry{src: src, callID: rec.CallID, participant: rec.Participant, index: -1}
	c.log.Info("Starting call stats collection.", "call", rec.CallID, "participant", rec.Participant)
	// The scheduler queues the record: only it may send on writes, since it
	// closes writes on Close, and a send from here could then panic.
	select {
	case c.cmds <- command{start: &startReq{e: e, rec: rec}}:
	case <-c.ctx.Done():
	}
}

// Stop ends collection for a call: it takes a last sample when final is
// true (the call's connection must still be open), stores it with the end
// record, and returns once both are committed or ctx is done.
func (c *Collector) Stop(ctx context.Context, end stats.EndRecord, final bool) error {
	req := &stopReq{key: entryKey(end.Participant, end.CallID), end: end, final: final, ack: make(chan error, 1)}
	c.log.Info("Stopping call stats collection.", "call", end.CallID, "participant", end.Participant)
	select {
	case c.cmds <- command{stop: req}:
	case <-c.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Err is the last store error, if any write failed.
func (c *Collector) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// Written counts samples committed so far.
func (c *Collector) Written() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written
}

// Close stops sampling, commits what is queued and waits for both
// goroutines. Calls still tracked get no end record: stop them first. If
// the sink still refuses samples, they are written to a stats file in a
// fallback directory and the error, which wraps the sink's, names it.
func (c *Collector) Close() error {
	c.cancel()
	c.wg.Wait()
	return c.closeErr()
}

// schedule is the sampling goroutine.
func (c *Collector) schedule() {
	defer c.wg.Done()
	defer close(c.writes) // the writer drains and exits
	entries := map[string]*entry{}
	var due entryHeap
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// Since Go 1.23, Reset and Stop leave no stale tick behind.
		if len(due) > 0 {
			timer.Reset(time.Until(due[0].next))
		} else {
			timer.Stop()
		}
		select {
		case <-c.ctx.Done():
			return
		case cmd := <-c.cmds:
			switch {
			case cmd.start != nil:
				e := cmd.start.e
				key := entryKey(e.participant, e.callID)
				if _, dup := entries[key]; dup {
					continue
				}
				// The call's record goes to the writer before any of its
				// samples can: the store skips samples of unknown calls.
				if !c.queue(writeOp{batch: stats.Batch{Begins: []stats.CallRecord{cmd.start.rec}}}) {
					return
				}
				e.next = time.Now().Add(c.cfg.Interval)
				entries[key] = e
				heap.Push(&due, e)
			case cmd.stop != nil:
				c.stopEntry(entries, &due, cmd.stop)
			}
		case <-timer.C:
			now := time.Now()
			var batch stats.Batch
			for len(due) > 0 && !due[0].next.After(now) {
				e := due[0]
				s, err := c.sample(e)
				if err != nil {
					// As in the seed: the first failure ends collection
					// for this call.
					c.log.Error("Stats collection failed.", "call", e.callID, "participant", e.participant, "err", err)
					if c.cfg.OnSampleError != nil {
						c.cfg.OnSampleError(e.callID, e.participant, err)
					}
					heap.Remove(&due, e.index)
					continue
				}
				batch.Samples = append(batch.Samples, s)
				e.next = e.next.Add(c.cfg.Interval)
				if e.next.Before(now) { // we fell behind; do not burst
					e.next = now.Add(c.cfg.Interval)
				}
				heap.Fix(&due, e.index)
			}
			if batch.Len() > 0 && !c.queue(writeOp{batch: batch}) {
				return
			}
		}
	}
}

func (c *Collector) stopEntry(entries map[string]*entry, due *entryHeap, req *stopReq) {
	e, ok := entries[req.key]
	delete(entries, req.key)
	var batch stats.Batch
	if ok {
		scheduled := e.index >= 0
		if scheduled {
			heap.Remove(due, e.index)
		}
		if req.final && scheduled {
			if s, err := c.sample(e); err == nil {
				batch.Samples = append(batch.Samples, s)
			} else {
				c.log.Warn("final stats sample failed", "call", e.callID, "err", err)
			}
		}
	}
	batch.Ends = []stats.EndRecord{req.end}
	if !c.queue(writeOp{batch: batch, ack: req.ack}) {
		req.ack <- ErrClosed
	}
}

// queue hands op to the writer. Only the scheduler calls it: it is the
// goroutine that closes writes. While there is room it queues even if Close
// has begun, so that what was handed to the collector before Close is
// committed (a select would pick the closing case half the time); it gives
// up only when the writer is backed up and the collector is closing.
func (c *Collector) queue(op writeOp) bool {
	select {
	case c.writes <- op:
		return true
	default:
	}
	select {
	case c.writes <- op:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *Collector) sample(e *entry) (stats.Sample, error) {
	r, err := e.src.CollectStats()
	if err != nil {
		return stats.Sample{}, err
	}
	s := stats.NewSample(c.cfg.SDK, e.callID, e.participant, e.seq, time.Now(), r)
	// The MOS of the interval since the previous sample goes into the
	// SDK entry; the collector is where both samples are at hand.
	if q, ok := stats.IntervalQuality(e.prev, s.Objects); ok {
		q.SetOn(s.Objects[0])
	}
	e.prev = s.Objects
	e.seq++
	if c.cfg.OnSample != nil {
		c.cfg.OnSample(s)
	}
	return s, nil
}

// write is the store goroutine: it commits queued operations in batches.
func (c *Collector) write() {
	defer c.wg.Done()
	const maxBatch = 2048
	for op := range c.writes {
		batch := op.batch
		var acks []chan error
		if op.ack != nil {
			acks = append(acks, op.ack)
		}
	drain:
		for batch.Len() < maxBatch {
			select {
			case more, ok := <-c.writes:
				if !ok {
					break drain
				}
				batch.Begins = append(batch.Begins, more.batch.Begins...)
				batch.Samples = append(batch.Samples, more.batch.Samples...)
				batch.Ends = append(batch.Ends, more.batch.Ends...)
				if more.ack != nil {
					acks = append(acks, more.ack)
				}
			default:
				break drain
			}
		}
		if c.cfg.Logs != nil {
			batch.Logs = append(batch.Logs, c.cfg.Logs.Drain()...)
		}
		err := c.commit(batch)
		for _, ack := range acks {
			ack <- err
		}
	}
	// What was logged since the last batch, up to Close, and one last try
	// at what the sink refused.
	var last stats.Batch
	if c.cfg.Logs != nil {
		last.Logs = c.cfg.Logs.Drain()
	}
	if last.Len() > 0 || c.pending.Len() > 0 {
		_ = c.commit(last)
	}
	if len(c.pending.Samples) > 0 || len(c.pending.Begins) > 0 {
		c.spill()
	}
}

// commit writes b, after whatever the sink refused before: a store that
// was full or locked and recovers gets everything, in order.
func (c *Collector) commit(b stats.Batch) error {
	if c.cfg.Sink == nil {
		return nil
	}
	if c.pending.Len() > 0 {
		b = merge(c.pending, b)
		c.pending = stats.Batch{}
	}
	// The store must finish even while the process shuts down: a batch in
	// hand is exactly what must not be lost.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evicted, err := c.cfg.Sink.Write(ctx, b)
	for _, ev := range evicted {
		c.log.Info(stats.EvictionMessage, "participant", ev.Participant, "call", ev.CallID)
	}
	if err != nil {
		err = fmt.Errorf("storing %d samples: %w", len(b.Samples), err)
		c.keep(b, err)
		return err
	}
	if c.failing {
		c.failing = false
		c.log.Info("stats store writable again; every kept sample is stored", "samples", len(b.Samples))
	}
	c.mu.Lock()
	c.written += len(b.Samples)
	c.mu.Unlock()
	return nil
}

// entryHeap orders entries by next due time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
