// Package reportcmd implements "callstat report": the stored calls as one
// self-contained HTML file with plots.
package reportcmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/runreport"
)

// Options are report's flags and dependencies.
type Options struct {
	Factory      *cmdutil.Factory
	Out          string
	Store        string
	Participants []string
}

// NewCmdReport builds the command; runF replaces the run function in tests.
func NewCmdReport(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "report --out <file.html>",
		Short: "Write the stored calls as one HTML file with plots",
		Long: `Write one self-contained HTML file of the calls in the stats store: a section
per participant with a table of its calls (as "callstat summary" shows them),
and for each call plots over time of round-trip time, jitter, packet loss,
bitrate, audio level and the MOS estimate, for what the participant received
(inbound) and what it sent, as the far end reported it (outbound).

The file loads nothing from anywhere (no script, font or style sheet from a
network) and opens offline in any browser; a ring of five one-hour calls
makes well under 1 MB. Long calls are drawn with the smallest and largest
value of each pixel column, so a one-second spike stays visible.
See docs/reports.md.`,
		Example: `  callstat report --out report.html
  callstat report --out alice.html --store answerer.db --participant alice@example.com
  callstat report --out - --participant bob@example.com > bob.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Out == "" {
				return cmdutil.FlagErrorf("--out is required: the HTML file to write, e.g. --out report.html (- for standard output)")
			}
			if opts.Out != "-" {
				if err := runreport.CheckPath(opts.Out); err != nil {
					return cmdutil.FlagErrorf("--out %s: %v", opts.Out, err)
				}
			}
			for _, p := range opts.Participants {
				if strings.TrimSpace(p) == "" {
					return cmdutil.FlagErrorf("--participant must not be empty")
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return reportRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Out, "out", "o", "", "HTML file to write (replaced whole once complete), or - for standard output")
	cmd.Flags().StringVar(&opts.Store, "store", f.DefaultStorePath(), "stats store file (env "+cmdutil.EnvStore+")")
	cmd.Flags().StringArrayVarP(&opts.Participants, "participant", "p", nil, "only this participant's calls, repeatable (default: every participant in the store)")
	return cmd
}

// reportRun writes the report and prints its path.
func reportRun(ctx context.Context, opts *Options) error {
	f := opts.Factory
	res, err := app.WriteHTMLReport(ctx, app.HTMLReportConfig{
		StorePath: opts.Store, StoreHint: "set --store or " + cmdutil.EnvStore, Participants: opts.Participants,
		Out: opts.Out, Stdout: f.IO.Out, Version: f.Build.Version, Now: f.Now(),
	})
	if err != nil {
		return err
	}
	if opts.Out != "-" {
		fmt.Fprintln(f.IO.Out, opts.Out)
		f.Logger.Info("report written", "path", opts.Out, "participants", res.Participants, "calls", res.Calls)
	}
	return nil
}
