package netem

import (
	"container/heap"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// bucketDepth is the rate limit's token bucket, bytes: one full-size
// Ethernet packet, so that a burst beyond one packet waits as it would
// behind a real link's serialisation.
const bucketDepth = 1500

// IP and UDP header bytes a packet costs on the wire, counted by the rate
// limit.
const (
	overheadIPv4 = 20 + 8
	overheadIPv6 = 40 + 8
)

// packet is one packet held by a link.
type packet struct {
	data []byte
	addr net.Addr // nil on a connected socket's Write
	due  time.Time
	seq  uint64 // arrival order: equal due times leave in it
	m    meta
	err  error // a read error to hand the reader in order (ingress only)
}

// link is one direction of one socket: it decides what happens to each
// packet and holds the packets until they are due. Nothing runs while it
// holds nothing; while it does, one timer (never a goroutine per packet)
// fires at the earliest due time. close stops the timer, waits for a
// delivery in progress and drops the rest.
type link struct {
	cfg      Link
	ge       GilbertElliott
	bursty   bool
	loss     float64 // independent loss, 0..1
	dup      float64 // 0..1
	queueCap int
	stats    *dirStats
	// deliver sends a packet on (up) or hands it to the reader (down).
	deliver func(p *packet) error

	// sendMu is held while packets are delivered, taken before mu: one
	// delivery at a time, so that packets leave in the order they were
	// taken from the queue.
	sendMu sync.Mutex
	batch  []*packet // reused under sendMu

	mu      sync.Mutex
	rng     *rand.Rand
	bad     bool      // Gilbert-Elliott state
	tokens  float64   // rate limit: bytes in the bucket at tokAt
	tokAt   time.Time // the last packet's departure from the bottleneck
	waiting fifo[time.Time]
	q       queue
	lastDue time.Time
	seq     uint64
	timer   *time.Timer
	timerAt time.Time // when the timer fires; zero when it is not armed
	pending sync.WaitGroup
	closed  bool
}

func newLink(cfg Link, rng *rand.Rand, stats *dirStats, deliver func(*packet) error) *link {
	l := &link{
		cfg: cfg, rng: rng, stats: stats, deliver: deliver,
		loss: cfg.Loss / 100, dup: cfg.Duplicate / 100, queueCap: cfg.queue(),
		tokens: bucketDepth, tokAt: time.Now(),
		q: queue{reorder: cfg.Reorder},
	}
	l.ge, l.bursty = cfg.lossModel()
	return l
}

// push takes a packet sent (up) or received (down) now. The data is
// copied; overhead is its IP and UDP header bytes.
func (l *link) push(data []byte, addr net.Addr, overhead int) {
	now := time.Now()
	m := metaOf(data, now)
	l.mu.Lock()
	l.stats.count(&m, evOffered, now)
	if l.closed {
		l.stats.count(&m, evDiscarded, now)
		l.mu.Unlock()
		return
	}
	if l.lose() {
		l.stats.count(&m, evLost, now)
		l.mu.Unlock()
		return
	}
	copies := 1
	if l.dup > 0 && l.rng.Float64() < l.dup {
		copies = 2
	}
	buf := append([]byte(nil), data...)
	for i := range copies {
		pm := m
		pm.copy = i == 1
		if l.cfg.Rate > 0 {
			for l.waiting.len() > 0 && !l.waiting.peek().After(now) {
				l.waiting.pop()
			}
		}
		if l.q.len() >= MaxHeld || (l.cfg.Rate > 0 && l.waiting.len() >= l.queueCap) {
			// A copy that finds no room is just not made: Overflow counts
			// packets sent that went nowhere.
			if !pm.copy {
				l.stats.count(&pm, evOverflow, now)
			}
			continue
		}
		if pm.copy {
			l.stats.count(&pm, evDuplicated, now)
		}
		depart := now
		if l.cfg.Rate > 0 {
			depart = l.shape(now, len(data)+overhead)
			l.waiting.push(depart)
		}
		due := depart.Add(l.delay())
		if !l.cfg.Reorder {
			// A FIFO link: a packet never leaves before the one ahead.
			if due.Before(l.lastDue) {
				due = l.lastDue
			}
			l.lastDue = due
		}
		l.seq++
		l.q.push(&packet{data: buf, addr: addr, due: due, seq: l.seq, m: pm})
	}
	now = time.Now()
	dueNow := l.q.len() > 0 && !l.q.peek().due.After(now)
	if l.q.len() > 0 && !dueNow {
		l.arm(l.q.peek().due)
	}
	l.mu.Unlock()
	if dueNow {
		l.drain()
	}
}

// lose draws the loss model for one packet (netem's order: the state's
// loss first, then the move to the next state).
func (l *link) lose() bool {
	if !l.bursty {
		return l.loss > 0 && l.rng.Float64() < l.loss
	}
	var lost bool
	if l.bad {
		lost = l.rng.Float64() < l.ge.LossBad/100
		if l.rng.Float64() < l.ge.R/100 {
			l.bad = false
		}
	} else {
		lost = l.rng.Float64() < l.ge.LossGood/100
		if l.rng.Float64() < l.ge.P/100 {
			l.bad = true
		}
	}
	return lost
}

// shape takes size bytes from the token bucket and returns when the packet
// leaves the bottleneck: at once while the bucket has the tokens, else when
// it has refilled enough after the packets ahead.
func (l *link) shape(now time.Time, size int) time.Time {
	bytesPerSec := float64(l.cfg.Rate) / 8
	if l.tokAt.Before(now) {
		l.tokens = min(bucketDepth, l.tokens+bytesPerSec*now.Sub(l.tokAt).Seconds())
		l.tokAt = now
	}
	need := float64(size)
	if l.tokens >= need {
		l.tokens -= need
		return l.tokAt
	}
	wait := (need - l.tokens) / bytesPerSec
	l.tokAt = l.tokAt.Add(time.Duration(wait * float64(time.Second)))
	l.tokens = 0
	return l.tokAt
}

// delay draws one packet's delay.
func (l *link) delay() time.Duration {
	d := float64(l.cfg.Delay)
	if j := float64(l.cfg.Jitter); j > 0 {
		switch l.cfg.Distribution {
		case Normal:
			d += l.rng.NormFloat64() * j
		default:
			d += (2*l.rng.Float64() - 1) * j
		}
	}
	return time.Duration(max(d, 0))
}

// arm makes the timer fire at at, unless it fires earlier already. Called
// with mu held.
func (l *link) arm(at time.Time) {
	if !l.timerAt.IsZero() && !at.Before(l.timerAt) {
		return
	}
	l.timerAt = at
	l.pending.Add(1)
	if l.timer == nil {
		l.timer = time.AfterFunc(time.Until(at), l.fire)
		return
	}
	if l.timer.Reset(time.Until(at)) {
		l.pending.Done() // it replaced a run that had not started
	}
}

// fire is the timer's function.
func (l *link) fire() {
	defer l.pending.Done()
	l.mu.Lock()
	l.timerAt = time.Time{}
	l.mu.Unlock()
	l.drain()
}

// drain delivers every packet that is due, in order, and arms the timer
// for the next.
func (l *link) drain() {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	now := time.Now()
	batch := l.batch[:0]
	for l.q.len() > 0 && !l.q.peek().due.After(now) {
		batch = append(batch, l.q.pop())
	}
	if l.q.len() > 0 {
		l.arm(l.q.peek().due)
	}
	l.mu.Unlock()
	for i, p := range batch {
		// Counted before it goes: whatever the far end has seen, the
		// counters have.
		l.stats.count(&p.m, evDelivered, time.Now())
		if err := l.deliver(p); err != nil {
			l.stats.failed()
		}
		batch[i] = nil
	}
	l.batch = batch[:0]
}

// close stops the link: packets still held are dropped, and once close
// returns nothing is delivered any more.
func (l *link) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	if l.timer != nil && l.timer.Stop() {
		l.pending.Done()
	}
	now := time.Now()
	for l.q.len() > 0 {
		p := l.q.pop()
		l.stats.count(&p.m, evDiscarded, now)
	}
	l.mu.Unlock()
	// A timer function already running sees closed and returns; a
	// delivery in progress finishes its batch.
	l.pending.Wait()
	l.sendMu.Lock()
	l.sendMu.Unlock() //nolint:staticcheck // an empty critical section: waits for the delivery in progress
}

// queue holds a link's packets by due time: a FIFO while packets cannot
// overtake each other (their due times only grow), a heap when they can.
type queue struct {
	reorder bool
	fifo    fifo[*packet]
	heap    packetHeap
}

func (q *queue) len() int {
	if q.reorder {
		return len(q.heap)
	}
	return q.fifo.len()
}

func (q *queue) peek() *packet {
	if q.reorder {
		return q.heap[0]
	}
	return q.fifo.peek()
}

func (q *queue) push(p *packet) {
	if q.reorder {
		heap.Push(&q.heap, p)
		return
	}
	q.fifo.push(p)
}

func (q *queue) pop() *packet {
	if q.reorder {
		return heap.Pop(&q.heap).(*packet)
	}
	return q.fifo.pop()
}

// packetHeap orders packets by due time, then arrival.
type packetHeap []*packet

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(*packet)) }
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

// fifo is a queue on a slice that reuses its space.
type fifo[T any] struct {
	items []T
	head  int
}

func (f *fifo[T]) len() int { return len(f.items) - f.head }
func (f *fifo[T]) peek() T  { return f.items[f.head] }
func (f *fifo[T]) push(v T) { f.items = append(f.items, v) }
func (f *fifo[T]) pop() T {
	v := f.items[f.head]
	var zero T
	f.items[f.head] = zero
	f.head++
	switch {
	case f.head == len(f.items):
		f.items, f.head = f.items[:0], 0
	case f.head >= 64 && 2*f.head >= len(f.items):
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
	return v
}
