package ui

import (
	"fmt"
	"sync"
	"time"

	"github.com/callstat/callstat/pkg/stats/report"
)

// Load is the View of a load run (callstat call --calls N): one line with
// the calls placed, up, ended and failed, the setup time so far and the
// time elapsed. Its counts are also what the periodic progress log line
// says where there is no terminal.
type Load struct {
	total   int
	started time.Time

	mu       sync.Mutex
	placed   int
	up       int
	ended    int
	failed   int
	setupsMs []float64 // of the calls connected so far
	packets  map[string]packetCounts
}

// packetCounts are one call's inbound packets, as of its last sample.
type packetCounts struct{ received, lost float64 }

// NewLoad makes the view of a run of total calls, started now.
func NewLoad(total int, now time.Time) *Load {
	return &Load{total: total, started: now, packets: map[string]packetCounts{}}
}

// Packets records a call's inbound packets received and lost so far (from
// its latest sample); the line's loss is over every call of the run.
func (v *Load) Packets(callID string, received, lost float64) {
	v.mu.Lock()
	v.packets[callID] = packetCounts{received: received, lost: lost}
	v.mu.Unlock()
}

// Placed counts a call placed.
func (v *Load) Placed() {
	v.mu.Lock()
	v.placed++
	v.mu.Unlock()
}

// Connected counts a call connected after setup.
func (v *Load) Connected(setup time.Duration) {
	v.mu.Lock()
	v.up++
	v.setupsMs = append(v.setupsMs, float64(setup)/float64(time.Millisecond))
	v.mu.Unlock()
}

// Ended counts a call ended; up says whether it had connected, failed
// whether it ended with an error.
func (v *Load) Ended(up, failed bool) {
	v.mu.Lock()
	v.ended++
	if up {
		v.up--
	}
	if failed {
		v.failed++
	}
	v.mu.Unlock()
}

// LoadProgress is a load run's counts at a moment.
type LoadProgress struct {
	Total, Placed, Up, Ended, Failed int
	SetupP95Ms                       float64 // 0 before a call connected
	// LossPercent is the inbound packets lost over those expected, every
	// call of the run so far; HaveLoss says whether any were counted.
	LossPercent float64
	HaveLoss    bool
	Elapsed     time.Duration
}

// Progress returns the counts now.
func (v *Load) Progress(now time.Time) LoadProgress {
	v.mu.Lock()
	defer v.mu.Unlock()
	p := LoadProgress{Total: v.total, Placed: v.placed, Up: v.up, Ended: v.ended, Failed: v.failed, Elapsed: now.Sub(v.started)}
	if p95 := report.Percentile(v.setupsMs, 95); p95 != nil {
		p.SetupP95Ms = *p95
	}
	var received, lost float64
	for _, c := range v.packets {
		received += c.received
		lost += c.lost
	}
	if expected := received + max(lost, 0); expected > 0 {
		p.HaveLoss = true
		p.LossPercent = max(lost, 0) / expected * 100
	}
	return p
}

// LogAttrs are the counts as log attributes.
func (p LoadProgress) LogAttrs() []any {
	return []any{"placed", p.Placed, "of", p.Total, "up", p.Up, "ended", p.Ended, "failed", p.Failed,
		"setupP95Ms", p.SetupP95Ms, "lossPercent", p.LossPercent, "elapsed", p.Elapsed.Round(time.Second).String()}
}

// Lines implements View.
func (v *Load) Lines(now time.Time) []string {
	p := v.Progress(now)
	line := fmt.Sprintf("load  %d/%d placed  %d up  %d ended  %d failed", p.Placed, p.Total, p.Up, p.Ended, p.Failed)
	if p.SetupP95Ms > 0 {
		line += "  setup p95 " + ms(p.SetupP95Ms)
	}
	if p.HaveLoss {
		line += fmt.Sprintf("  loss %.2f %%", p.LossPercent)
	}
	return []string{line + "  " + clock(p.Elapsed)}
}
