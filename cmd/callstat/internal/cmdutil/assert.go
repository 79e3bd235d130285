package cmdutil

import (
	"github.com/spf13/cobra"

	"github.com/callstat/callstat/pkg/stats/report"
)

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
