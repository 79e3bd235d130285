package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/callstat/callstat/pkg/app/load"
	"github.com/callstat/callstat/pkg/stats/report"
)

// Output shows a command's results on stderr beside the log lines: call
// summaries, breaches of --assert, a load run's summary. As text, or with
// JSON as one JSON object per line like the log lines, so that every
// stderr line parses. Each result is written at once, so that a
// terminal's status lines never split it; an Output may be shared by
// goroutines.
type Output struct {
	W     io.Writer // stderr
	JSON  bool      // --log-format json
	Quiet bool      // summaries are not shown (--quiet, or a level above info)
	Now   func() time.Time

	mu sync.Mutex
}

func (o *Output) write(b []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err := o.W.Write(b)
	return err
}

func (o *Output) now() string {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	return now().Format(time.RFC3339Nano)
}

// Summaries shows finished calls' summaries, as a log would: not when
// Quiet; as the table, or as one JSON object per call ("msg":"call
// summary", the row under "summary").
func (o *Output) Summaries(rows []report.CallSummary) error {
	if o.Quiet {
		return nil
	}
	var b bytes.Buffer
	if o.JSON {
		enc := json.NewEncoder(&b)
		for _, s := range rows {
			if err := enc.Encode(map[string]any{"time": o.now(), "level": "INFO", "msg": "call summary", "summary": s}); err != nil {
				return err
			}
		}
	} else if err := PrintSummaryTable(&b, rows); err != nil {
		return err
	}
	return o.write(b.Bytes())
}

// CheckAssertions writes one line per breach and returns an error wrapping
// report.ErrAssertionFailed if there was any. The lines are the command's
// result, shown even when Quiet; as JSON each is an object like the log
// lines (level ERROR, with the call, metric, limit and measured value).
func (o *Output) CheckAssertions(as report.Assertions, rows []report.CallSummary) error {
	var b bytes.Buffer
	n := 0
	for _, s := range rows {
		for _, br := range as.Check(s) {
			n++
			msg := "assertion failed: " + br.String()
			if !o.JSON {
				fmt.Fprintln(&b, msg)
				continue
			}
			a := br.Assertion
			line := map[string]any{"time": o.now(), "level": "ERROR", "msg": msg,
				"call": br.CallID, "metric": a.Name(), "assertion": a.Text, "limit": a.Limit, "measured": br.Measured}
			_ = json.NewEncoder(&b).Encode(line)
		}
	}
	if n == 0 {
		return nil
	}
	if err := o.write(b.Bytes()); err != nil {
		return err
	}
	return fmt.Errorf("%w: %d breach(es) of --assert", report.ErrAssertionFailed, n)
}

// LoadReport shows a load run's summary as the call summaries are shown:
// not when Quiet; as a block of text, or as one JSON line ("msg":"load
// summary").
func (o *Output) LoadReport(r load.Report) error {
	if o.Quiet {
		return nil
	}
	var b bytes.Buffer
	if o.JSON {
		if err := json.NewEncoder(&b).Encode(map[string]any{"time": o.now(), "level": "INFO", "msg": "load summary", "summary": r}); err != nil {
			return err
		}
	} else {
		writeLoadText(&b, r)
	}
	return o.write(b.Bytes())
}

func writeLoadText(b *bytes.Buffer, r load.Report) {
	ramp := ""
	if r.Ramp > 0 {
		ramp = fmt.Sprintf(", ramp %g/s", r.Ramp)
	}
	fmt.Fprintf(b, "load: %d of %d calls placed, %d connected, %d failed, in %s (concurrency %d%s)\n",
		r.Placed, r.Calls, r.Connected, r.Failed, r.Elapsed.Round(10*time.Millisecond), r.Concurrency, ramp)
	fmt.Fprintf(b, "  setup     p50 %s  p95 %s  p99 %s  max %s\n", msFig(r.SetupP50Ms), msFig(r.SetupP95Ms), msFig(r.SetupP99Ms), msFig(r.SetupMaxMs))
	fmt.Fprintf(b, "  sent      %.0f packets, %s of the %.0f of real time; the far ends lost %.0f\n",
		r.PacketsSent, figure(r.SentPercent, 2, " %"), r.PacketsExpected, r.RemotePacketsLost)
	fmt.Fprintf(b, "  received  %.0f packets, %s of the %.0f of real time; lost %.0f (%s)\n",
		r.PacketsReceived, figure(r.ReceivedPercent, 2, " %"), r.PacketsExpected, r.PacketsLost, figure(r.LossPercent, 3, " %"))
	fmt.Fprintf(b, "  jitter    p50 %s  p95 %s\n", msFig(r.JitterP50Ms), msFig(r.JitterP95Ms))
	fmt.Fprintf(b, "  rtt       p50 %s  p95 %s\n", msFig(r.RTTP50Ms), msFig(r.RTTP95Ms))
	fmt.Fprintf(b, "  mos       min %s  mean %s\n", figure(r.MOSMin, 2, ""), figure(r.MOSMean, 2, ""))
	rss := "unknown"
	if r.PeakRSSBytes >= 0 {
		rss = fmt.Sprintf("%.1f MiB", float64(r.PeakRSSBytes)/(1<<20))
	}
	fmt.Fprintf(b, "  process   cpu %.1f s (%.0f %% of one core), peak rss %s\n", r.CPU.Seconds(), r.CPUPercent(), rss)
	for _, g := range r.Failures {
		fmt.Fprintf(b, "  failed    %d × %d %s\n", g.Count, g.StatusCode, g.Reason)
	}
}

func msFig(v *float64) string { return figure(v, 1, " ms") }
