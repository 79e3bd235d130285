package ui

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/stats"
)

// MaxCallLines bounds the lines Calls draws; further calls are summed up in
// one more line.
const MaxCallLines = 8

// Calls is a View with one line per call in progress: who, state, elapsed
// time, and the last sample's RTT, jitter, loss and bitrates.
type Calls struct {
	// OnChange, if set, runs after a state change or a sample (the
	// terminal's Refresh), outside the view's lock.
	OnChange func()

	mu    sync.Mutex
	calls []*callLine // in start order
}

type callLine struct {
	key       string // participant and call id: both ends may run in one process
	id        string
	local     string
	remote    string
	dir       call.Direction
	state     string
	started   time.Time
	connected time.Time

	haveFigures bool
	rttMs       float64
	jitterMs    float64
	lossPct     float64
	sendKbps    float64
	recvKbps    float64

	prev *counters // the previous sample's counters, for rates
}

// counters are a sample's cumulative figures.
type counters struct {
	at                  time.Time
	bytesSent, bytesRcv float64
	received, lost      float64
}

func lineKey(participant, callID string) string { return participant + "\x00" + callID }

// Hooks returns call hooks that keep the view up to date.
func (v *Calls) Hooks() call.Hooks {
	return call.Hooks{
		CallStarted: func(c *call.Call) {
			v.update(func() {
				v.calls = append(v.calls, &callLine{key: lineKey(c.Local(), c.ID()), id: c.ID(), local: c.Local(),
					remote: c.Remote(), dir: c.Direction(), state: c.State().String(), started: c.StartedAt()})
			})
		},
		StateChanged: func(c *call.Call, ch call.StateChange) {
			v.update(func() {
				if l := v.find(lineKey(c.Local(), c.ID())); l != nil {
					l.state = ch.State.String()
					if ch.State == call.StateConnected {
						l.connected = c.ConnectedAt()
					}
				}
			})
		},
		CallEnding: func(c *call.Call) {
			// Its end is logged; the line goes.
			v.update(func() {
				key := lineKey(c.Local(), c.ID())
				for i, l := range v.calls {
					if l.key == key {
						v.calls = append(v.calls[:i], v.calls[i+1:]...)
						return
					}
				}
			})
		},
	}
}

// OnSample takes a call's figures from a stats sample.
func (v *Calls) OnSample(s stats.Sample) {
	v.update(func() {
		if l := v.find(lineKey(s.Participant, s.CallID)); l != nil {
			l.take(s)
		}
	})
}

func (v *Calls) update(fn func()) {
	v.mu.Lock()
	fn()
	v.mu.Unlock()
	if v.OnChange != nil {
		v.OnChange()
	}
}

func (v *Calls) find(key string) *callLine {
	for _, l := range v.calls {
		if l.key == key {
			return l
		}
	}
	return nil
}

// Lines implements View.
func (v *Calls) Lines(now time.Time) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for i, l := range v.calls {
		if i == MaxCallLines-1 && len(v.calls) > MaxCallLines {
			out = append(out, fmt.Sprintf("… and %d more calls", len(v.calls)-i))
			break
		}
		out = append(out, l.line(now))
	}
	return out
}

func (l *callLine) line(now time.Time) string {
	var b strings.Builder
	arrow := "->"
	if l.dir == call.Incoming {
		arrow = "<-"
	}
	fmt.Fprintf(&b, "%s %s %s  %-10s %s", l.local, arrow, l.remote, l.state, clock(l.elapsed(now)))
	if l.haveFigures {
		fmt.Fprintf(&b, "  rtt %s  jitter %.1f ms  loss %.1f%%  up %.0f kbit/s  down %.0f kbit/s",
			ms(l.rttMs), l.jitterMs, l.lossPct, l.sendKbps, l.recvKbps)
	}
	return b.String()
}

// elapsed is the time connected, or since the call started while it is
// being set up.
func (l *callLine) elapsed(now time.Time) time.Duration {
	if !l.connected.IsZero() {
		return now.Sub(l.connected)
	}
	return now.Sub(l.started)
}

func clock(d time.Duration) string {
	d = max(d, 0).Truncate(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", m, s)
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// take reads the figures people watch from a sample: RTT as the summary
// takes it (stats.RoundTripTime: RTCP, else ICE), inbound jitter, loss and
// bitrates over the interval since the previous sample.
func (l *callLine) take(s stats.Sample) {
	cur := &counters{at: s.Time}
	var jitter float64
	for _, o := range s.Objects {
		switch o.Type() {
		case "outbound-rtp":
			v, _ := o.Number("bytesSent")
			cur.bytesSent += v
		case "inbound-rtp":
			v, _ := o.Number("bytesReceived")
			cur.bytesRcv += v
			r, _ := o.Number("packetsReceived")
			lost, _ := o.Number("packetsLost")
			cur.received += r
			cur.lost += lost
			if j, ok := o.Number("jitter"); ok {
				jitter = max(jitter, j)
			}
		}
	}
	l.rttMs = 0
	if rtt, ok := stats.RoundTripTime(s.Objects); ok {
		l.rttMs = 1000 * rtt
	}
	l.jitterMs = 1000 * jitter
	l.lossPct = lossPercent(cur.received, cur.lost)
	if p := l.prev; p != nil {
		if dt := cur.at.Sub(p.at).Seconds(); dt > 0 {
			l.sendKbps = max(cur.bytesSent-p.bytesSent, 0) * 8 / 1000 / dt
			l.recvKbps = max(cur.bytesRcv-p.bytesRcv, 0) * 8 / 1000 / dt
		}
		l.lossPct = lossPercent(cur.received-p.received, cur.lost-p.lost)
	}
	l.prev = cur
	l.haveFigures = true
}

func lossPercent(received, lost float64) float64 {
	if lost <= 0 || received+lost <= 0 {
		return 0
	}
	return 100 * lost / (received + lost)
}
