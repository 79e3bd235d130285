//go:build linux

package netlab

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// openTUN creates a TUN device (IP packets, no packet-info header) and
// returns its file, pollable so that Close interrupts a Read.
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("netlab: opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err == nil {
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	}
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("netlab: creating TUN device %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tun:"+name), nil
}

// wire moves packets between two TUN devices, each direction on its own
// pair of goroutines: a reader that drops or timestamps each packet, and
// a writer that releases it when its delay is over. With jitter, a packet
// may overtake the one before it, as with netem.
type wire struct {
	a, b *os.File
	dirs [2]*direction
	wg   sync.WaitGroup
	done chan struct{}
}

type direction struct {
	cond       Condition
	rng        *rand.Rand
	packets    atomic.Int64
	dropped    atomic.Int64
	rtp        atomic.Int64
	rtpDropped atomic.Int64

	jitter atomic.Pointer[rtpJitter] // set by RecordRTPJitter (rtpjitter.go)

	mu    sync.Mutex
	queue packetHeap
	seq   uint64
	wake  chan struct{} // capacity 1
}

type packet struct {
	due  time.Time
	seq  uint64 // arrival order, for equal due times
	data []byte
}

func startWire(a, b *os.File, cond Condition) *wire {
	w := &wire{a: a, b: b, done: make(chan struct{})}
	for i := range w.dirs {
		// Seeded per lab from the clock: runs differ, as real networks do.
		seed := uint64(time.Now().UnixNano()) + uint64(i)
		w.dirs[i] = &direction{cond: cond, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), wake: make(chan struct{}, 1)}
	}
	w.wg.Add(4)
	go w.read(a, w.dirs[0])
	go w.write(b, w.dirs[0])
	go w.read(b, w.dirs[1])
	go w.write(a, w.dirs[1])
	return w
}

func (w *wire) read(src *os.File, d *direction) {
	defer w.wg.Done()
	raisePriority()
	buf := make([]byte, 65536)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return // closed
		}
		now := time.Now()
		rtp := isRTP(buf[:n])
		d.packets.Add(1)
		if rtp {
			d.rtp.Add(1)
		}
		d.mu.Lock()
		if d.cond.Loss > 0 && d.rng.Float64()*100 < d.cond.Loss {
			d.mu.Unlock()
			d.dropped.Add(1)
			if rtp {
				d.rtpDropped.Add(1)
			}
			continue
		}
		delay := d.cond.Delay
		if j := d.cond.Jitter; j > 0 {
			delay += time.Duration((d.rng.Float64()*2 - 1) * float64(j))
		}
		d.seq++
		heap.Push(&d.queue, &packet{due: now.Add(max(delay, 0)), seq: d.seq, data: append([]byte(nil), buf[:n]...)})
		d.mu.Unlock()
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

func (w *wire) write(dst *os.File, d *direction) {
	defer w.wg.Done()
	raisePriority()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		var next *packet
		if len(d.queue) > 0 {
			next = d.queue[0]
			if !next.due.After(time.Now()) {
				heap.Pop(&d.queue)
				d.mu.Unlock()
				// A write error is a lost packet; the link goes on.
				if _, err := dst.Write(next.data); err == nil {
					d.jitter.Load().forwarded(next.data, time.Now())
				}
				continue
			}
		}
		d.mu.Unlock()
		if next != nil {
			timer.Reset(time.Until(next.due))
		} else {
			timer.Stop()
		}
		select {
		case <-w.done:
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// setCondition applies cond to the packets that arrive from now on;
// packets already held keep the delay they were given.
func (w *wire) setCondition(cond Condition) {
	for _, d := range w.dirs {
		d.mu.Lock()
		d.cond = cond
		d.mu.Unlock()
	}
}

// raisePriority locks the goroutine to its thread and gives the thread
// Priority, so that a packet is held for its delay and no longer even
// when other work keeps the CPUs busy (see Priority). The thread ends with
// the goroutine: it is never handed back with that priority. Failing to
// raise it (no CAP_SYS_NICE) leaves the link as precise as the machine is
// idle.
func raisePriority() {
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), Priority)
}

func (w *wire) stats() Stats {
	return Stats{AtoB: w.dirs[0].stats(), BtoA: w.dirs[1].stats()}
}

func (d *direction) stats() DirectionStats {
	return DirectionStats{Packets: d.packets.Load(), Dropped: d.dropped.Load(), RTP: d.rtp.Load(), RTPDropped: d.rtpDropped.Load()}
}

// isRTP reports whether an IP packet carries an RTP packet over UDP, told
// apart from what shares its port (RFC 7983): STUN and DTLS start with a
// byte below 64, RTP and RTCP with version 2, and RTCP's packet types
// (192-223) are payload types 64-95 once the marker bit is masked.
func isRTP(ip []byte) bool {
	var udp []byte
	switch {
	case len(ip) >= 20 && ip[0]>>4 == 4 && ip[9] == 17:
		udp = ip[int(ip[0]&0x0f)*4:]
	case len(ip) >= 40 && ip[0]>>4 == 6 && ip[6] == 17:
		udp = ip[40:]
	default:
		return false
	}
	if len(udp) < 8+12 {
		return false
	}
	p := udp[8:]
	pt := p[1] & 0x7f
	return p[0]>>6 == 2 && (pt < 64 || pt > 95)
}

// close stops every goroutine: closing the devices ends the reads, done
// ends the writers, and packets still in flight are dropped.
func (w *wire) close() error {
	close(w.done)
	err := errors.Join(w.a.Close(), w.b.Close())
	w.wg.Wait()
	return err
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
