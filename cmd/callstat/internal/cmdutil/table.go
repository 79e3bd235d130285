package cmdutil

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/store"
)

// PrintCallTable writes one row per call: how it ended and its main figures.
func PrintCallTable(w io.Writer, calls []store.CallInfo, sums []stats.CallSummary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CALL\tPARTICIPANT\tPEER\tDURATION\tEND\tREASON\tSAMPLES\tSENT\tRECEIVED\tLOSS\tJITTER\tRTT")
	for i, c := range calls {
		s := sums[i]
		dur := "-"
		if !c.End.ConnectedAt.IsZero() && !c.End.EndedAt.IsZero() {
			dur = c.End.EndedAt.Sub(c.End.ConnectedAt).Round(10 * time.Millisecond).String()
		}
		state := c.End.State
		if state == "" {
			state = "(unfinished)"
		}
		reason := c.End.Reason
		if c.End.StatusCode != 0 {
			reason = fmt.Sprintf("%d %s", c.End.StatusCode, reason)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.0f\t%.0f\t%.2f%%\t%.1fms\t%.1fms\n",
			c.CallID, c.Participant, c.Peer, dur, state, reason, s.Samples, s.PacketsSent, s.PacketsReceived,
			s.LossPercent, s.JitterMs, s.RTTMs)
	}
	return tw.Flush()
}
