// Package htmlreport draws the calls of a stats store as one
// self-contained HTML file (callstat report): a section per participant
// with a table of its calls, and for each call plots over time of
// round-trip time, jitter, loss, bitrate, audio level and MOS, for what it
// received and what it sent. The plots are SVG drawn here; the page loads
// nothing (its Content-Security-Policy forbids it) and runs no script, so
// it opens the same anywhere, offline, years later.
package htmlreport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/report"
	"github.com/callstat/callstat/pkg/stats/store"
)

// Config is what a report shows.
type Config struct {
	Store *store.Store
	// Participants are the rings to show, in this order (empty: every
	// participant in the store, sorted).
	Participants []string
	// Version is the callstat that made the report, Now when.
	Version string
	Now     time.Time
}

// Result counts what a report holds.
type Result struct {
	Participants int
	Calls        int
}

// Write writes the report of cfg.Store to w. It wraps
// store.ErrNoParticipant when a participant named is not in the store, or
// the store holds no call at all.
func Write(ctx context.Context, w io.Writer, cfg Config) (Result, error) {
	var res Result
	stored, err := cfg.Store.Participants(ctx)
	if err != nil {
		return res, err
	}
	ps := cfg.Participants
	if len(ps) == 0 {
		ps = stored
	}
	if len(ps) == 0 {
		return res, fmt.Errorf("%w: the store %s is empty", store.ErrNoParticipant, cfg.Store.Path())
	}
	for _, p := range ps {
		if !slices.Contains(stored, p) {
			return res, fmt.Errorf("%w: %s (stored: %s)", store.ErrNoParticipant, p, strings.Join(stored, ", "))
		}
	}
	page := pageData{
		Version: cfg.Version, Store: cfg.Store.Path(), Generated: cfg.Now.UTC().Format(time.RFC3339),
		Metrics: metricLegend(),
	}
	for i, p := range ps {
		sec, err := participantSection(ctx, cfg.Store, p, fmt.Sprintf("p%d", i+1))
		if err != nil {
			return res, fmt.Errorf("participant %s: %w", p, err)
		}
		page.Participants = append(page.Participants, sec)
		res.Participants++
		res.Calls += len(sec.Calls)
	}
	if err := pageTemplate.Execute(w, page); err != nil {
		return res, err
	}
	return res, nil
}

// pageData is what the template shows.
type pageData struct {
	Version, Store, Generated string
	Metrics                   []legendEntry
	Participants              []sectionData
}

type legendEntry struct{ Title, Unit, Inbound, Outbound string }

func metricLegend() []legendEntry {
	out := make([]legendEntry, 0, numMetrics)
	for _, m := range metrics {
		out = append(out, legendEntry{Title: m.title, Unit: m.unit, Inbound: m.series[Inbound], Outbound: m.series[Outbound]})
	}
	return out
}

type sectionData struct {
	ID, Participant string
	Calls           []callData
}

type callData struct {
	ID      string // the HTML anchor
	N       int
	Summary report.CallSummary
	Plots   []plotData
}

type plotData struct {
	Title, Unit string
	SVG         template.HTML
}

// participantSection reads one participant's ring and draws its calls.
func participantSection(ctx context.Context, st *store.Store, participant, id string) (sectionData, error) {
	sec := sectionData{ID: id, Participant: participant}
	var (
		cur  *store.CallInfo
		cs   *callSeries
		z    *report.Summarizer
		errs []error
	)
	finish := func() {
		if cur == nil {
			return
		}
		sum := z.Summary()
		sum.SetCall(cur.CallRecord, cur.End)
		cd := callData{ID: fmt.Sprintf("%s-c%d", id, len(sec.Calls)+1), N: len(sec.Calls) + 1, Summary: sum}
		span := cs.end
		if !cur.End.EndedAt.IsZero() {
			span = max(span, cur.End.EndedAt.Sub(cur.StartedAt).Seconds())
		}
		for m := range numMetrics {
			info := metrics[m]
			cd.Plots = append(cd.Plots, plotData{Title: info.title, Unit: info.unit,
				// plotSVG escapes every text it writes.
				SVG: template.HTML(plotSVG(m, &cs.lines[m], span))}) //nolint:gosec // G203: built and escaped by plotSVG
		}
		sec.Calls = append(sec.Calls, cd)
		cur = nil
	}
	err := st.Walk(ctx, participant, func(c store.CallInfo) error {
		finish()
		cur, cs, z = &c, newCallSeries(c.StartedAt), &report.Summarizer{}
		return nil
	}, func(_ int, ts time.Time, body []byte) error {
		var objs []stats.Object
		if err := json.Unmarshal(body, &objs); err != nil {
			// One bad sample costs its point, not the report.
			errs = append(errs, err)
			return nil
		}
		z.Add(objs)
		cs.add(ts, objs)
		return nil
	})
	finish()
	if err != nil {
		return sec, err
	}
	if len(errs) > 0 && len(sec.Calls) == 0 {
		return sec, errors.Join(errs...)
	}
	return sec, nil
}

var funcs = template.FuncMap{
	"ms": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f", *v)
	},
	"secs": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return formatClock(*v / 1000)
	},
	"pct": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.2f", *v)
	},
	"mos": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.2f", *v)
	},
	"count": func(v float64) string { return fmt.Sprintf("%.0f", v) },
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"short": func(id string) string {
		if len(id) > 8 {
			return id[:8]
		}
		return id
	},
	"color": func(d int) string { return colors[d] },
}

var pageTemplate = template.Must(template.New("page").Funcs(funcs).Parse(pageHTML))
