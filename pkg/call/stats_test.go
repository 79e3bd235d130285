package call

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/collect"
)

// collectStatsHooks returns hooks that start collecting a call's stats when
// it starts (placed or received) and stop, with a last sample, when it
// ends, as the softphone does (cmd/callstat/internal/cmdutil).
func collectStatsHooks(col *collect.Collector) Hooks {
	return Hooks{
		CallStarted: func(c *Call) { col.Start(c, c.Record()) },
		CallEnding: func(c *Call) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := col.Stop(ctx, c.EndRecord(), true); err != nil {
				c.log.Error("could not store the call's last stats", "err", err)
			}
		},
	}
}

// danglingReferences lists every reference in a report (one sample) that
// names no object of the same report, as "<id>.<field> -> <target>". An
// empty reference counts as dangling: W3C leaves an unknown reference out
// rather than empty.
func danglingReferences(objs []stats.Object) []string {
	ids := make(map[string]bool, len(objs))
	for _, o := range objs {
		ids[o.ID()] = true
	}
	var out []string
	for _, o := range objs {
		refs := stats.References(o)
		fields := make([]string, 0, len(refs))
		for f := range refs {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			if target := refs[f]; !ids[target] || target == "" {
				out = append(out, fmt.Sprintf("%s.%s -> %q", o.ID(), f, target))
			}
		}
	}
	return out
}
