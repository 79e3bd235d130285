package ui

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

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
