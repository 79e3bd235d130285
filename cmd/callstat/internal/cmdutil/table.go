package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/pkg/stats/report"
)

// PrintSummaryTable writes one row per call: how it went and its figures.
// A figure never measured shows as "-".
func PrintSummaryTable(w io.Writer, rows []report.CallSummary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CALL\tPARTICIPANT\tSTART\tDURATION\tEND\tSETUP\tSENT\tRECEIVED\tLOSS\tJITTER p50/p95\tRTT p50/p95\tMOS min/mean")
	for _, s := range rows {
		end := s.EndState
		if end == "" {
			end = "(unfinished)"
		}
		if s.StatusCode != 0 || s.Reason != "" {
			end += fmt.Sprintf(" (%d %s)", s.StatusCode, s.Reason)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\n",
			s.CallID, s.Participant, s.Start.Local().Format("2006-01-02 15:04:05"),
			duration(s.DurationMs, 10*time.Millisecond), end, duration(s.SetupMs, time.Millisecond),
			s.PacketsSent, s.PacketsReceived, figure(s.LossPercent, 2, "%"),
			pair(s.JitterP50Ms, s.JitterP95Ms, 1, "ms"), pair(s.RTTP50Ms, s.RTTP95Ms, 1, "ms"), pair(s.MOSMin, s.MOSMean, 2, ""))
	}
	return tw.Flush()
}

func duration(ms *float64, round time.Duration) string {
	if ms == nil {
		return "-"
	}
	return (time.Duration(*ms * float64(time.Millisecond))).Round(round).String()
}

func figure(v *float64, prec int, unit string) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', prec, 64) + unit
}

func pair(a, b *float64, prec int, unit string) string {
	if a == nil && b == nil {
		return "-"
	}
	return figure(a, prec, "") + "/" + figure(b, prec, unit)
}

// AddAssertFlag registers --assert.
func AddAssertFlag(cmd *cobra.Command, expr *string) {
	cmd.Flags().StringVar(expr, "assert", "", "quality gate, e.g. 'mos>=4.0,loss<=1%,rtt<=150ms,jitter<=30ms': exit 13 when a call breaches it")
}

// ParseAssertFlag parses --assert at flag validation: a malformed value is
// a usage error that points at the mistake.
func ParseAssertFlag(expr string) (report.Assertions, error) {
	as, err := report.ParseAssertions(expr)
	if err != nil {
		return nil, &FlagError{Err: err}
	}
	return as, nil
}

// CheckAssertions writes one line per breach to stderr and returns an
// error wrapping report.ErrAssertionFailed if there was any. The lines are
// the command's result, printed whatever the log level; with --log-format
// json each is a JSON object like the log lines (level ERROR, with the
// call, metric, limit and measured value), so that every stderr line
// parses.
func CheckAssertions(f *Factory, as report.Assertions, rows []report.CallSummary) error {
	n := 0
	for _, s := range rows {
		for _, b := range as.Check(s) {
			n++
			msg := "assertion failed: " + b.String()
			if f.LogFormat != "json" {
				fmt.Fprintln(f.IO.ErrOut, msg)
				continue
			}
			a := b.Assertion
			line := map[string]any{"time": f.Now().Format(time.RFC3339Nano), "level": "ERROR", "msg": msg,
				"call": b.CallID, "metric": a.Name(), "assertion": a.Text, "limit": a.Limit, "measured": b.Measured}
			_ = json.NewEncoder(f.IO.ErrOut).Encode(line)
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d breach(es) of --assert", report.ErrAssertionFailed, n)
}

// WriteSummaries shows finished calls' summaries on stderr, as a log
// would: not with --quiet or a level above info; as the table, or with
// --log-format json as one JSON object per call like the log lines
// ("msg":"call summary", the row under "summary"). It writes once, so
// that a terminal's status lines never split it.
func WriteSummaries(f *Factory, rows []report.CallSummary) error {
	if f.LogLevel > slog.LevelInfo {
		return nil
	}
	var b bytes.Buffer
	if f.LogFormat == "json" {
		enc := json.NewEncoder(&b)
		for _, s := range rows {
			if err := enc.Encode(map[string]any{"time": f.Now().Format(time.RFC3339Nano), "level": "INFO",
				"msg": "call summary", "summary": s}); err != nil {
				return err
			}
		}
	} else if err := PrintSummaryTable(&b, rows); err != nil {
		return err
	}
	_, err := f.IO.ErrOut.Write(b.Bytes())
	return err
}
