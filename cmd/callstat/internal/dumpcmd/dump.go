// Package dumpcmd implements "callstat dump": write a participant's ring to a
// stats file.
package dumpcmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/stats/format"
)

// Options are dump's flags and dependencies.
type Options struct {
	Factory     *cmdutil.Factory
	Store       string
	Participant string
	Out         string
	Format      string
	Logs        bool
	// --nats: the files of every load agent (docs/scale-out.md).
	cmdutil.NATSFlags
	Wait time.Duration
}

// Formats of the file dump writes.
const (
	FormatSeed      = app.FormatSeed
	FormatInternals = app.FormatInternals
)

// NewCmdDump builds the command; runF replaces the run function in tests.
func NewCmdDump(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "dump",
		Short: "Write a participant's last five calls to a stats file",
		Long: `Write one participant's ring of calls (at most five, oldest first) to a file
in --out and print the file's path.

--format seed (the default) writes <unix-ms>_sdk<version>_call_stats.json in
the seed's structure [[callId, [stat, stat, ...]], ...]: each sample's
objects follow one another, the SDK entry first (see docs/stats-file.md).

--format webrtc-internals writes <unix-ms>_sdk<version>_webrtc_internals.json
in the format of Chrome's chrome://webrtc-internals dump, which existing
viewers import: one PeerConnection per call, one "<statsId>-<property>"
series per value, at most the last 1000 points of each, as Chrome keeps.

--participant may be omitted when the store holds a single participant.

With --logs, the participant's last 1,000 log entries are also written, oldest
first, one JSON object per line, to <unix-ms>_sdk<version>_logs.ndjson next to
the stats file (the SDK's log download), and its path printed too.

With --nats, every "callstat agent" that answers on that NATS within
--agents-wait writes the participant's file from its own store, and dump
saves each in --out/<agent name>/ (--participant is required; --logs and
--out - are not available).`,
		Example: `  callstat dump --participant bob@example.com --out artifacts/
  callstat dump --out - | jq '.[0][1] | length'
  callstat dump -p bob@example.com --format webrtc-internals --out artifacts/
  callstat dump -p bob@example.com --logs --out artifacts/
  callstat dump --nats nats://127.0.0.1:4222 -p bob@example.com --out artifacts/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Out == "" {
				return cmdutil.FlagErrorf("--out must not be empty (use - for standard output)")
			}
			if opts.Format != FormatSeed && opts.Format != FormatInternals {
				return cmdutil.FlagErrorf("invalid --format %q: use %s or %s", opts.Format, FormatSeed, FormatInternals)
			}
			if opts.Logs && opts.Out == "-" {
				return cmdutil.FlagErrorf("--logs writes a file next to the stats file: give --out a directory, not -")
			}
			if err := opts.ValidateNATS(); err != nil {
				return err
			}
			if opts.Enabled() && (opts.Participant == "" || opts.Logs || opts.Out == "-" || opts.Wait <= 0) {
				return cmdutil.FlagErrorf("dump --nats needs --participant and a directory for --out, and takes no --logs")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Enabled() {
				return fleetDumpRun(cmd.Context(), opts)
			}
			return dumpRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Store, "store", f.DefaultStorePath(), "stats store file (env "+cmdutil.EnvStore+")")
	cmd.Flags().StringVarP(&opts.Participant, "participant", "p", "", "whose calls to write (the caller's --from or the answerer's --as)")
	cmd.Flags().StringVarP(&opts.Out, "out", "o", ".", "directory for the stats file, or - for standard output")
	cmd.Flags().StringVar(&opts.Format, "format", FormatSeed, "file format: seed or webrtc-internals")
	cmd.Flags().BoolVar(&opts.Logs, "logs", false, "also write the participant's last 1,000 log entries as <unix-ms>_sdk<version>_logs.ndjson")
	cmdutil.AddNATSFlags(cmd, f, &opts.NATSFlags, "fetch the files from the load agents on this NATS")
	cmd.Flags().DurationVar(&opts.Wait, "agents-wait", defaultWait, "with --nats: how long to wait for the agents to answer")
	return cmd
}

// dumpRun writes the files and prints their paths.
func dumpRun(ctx context.Context, opts *Options) error {
	f := opts.Factory
	res, err := app.Dump(ctx, app.DumpConfig{
		StorePath: opts.Store, StoreHint: "set --store or " + cmdutil.EnvStore, Participant: opts.Participant,
		Dir: opts.Out, Stdout: f.IO.Out, Format: opts.Format, Logs: opts.Logs, Now: f.Now(), Version: f.Build.Version,
	})
	for _, id := range res.Truncated {
		f.Logger.Warn("call longer than the webrtc-internals format holds: its series keep their last points, as Chrome's do",
			"call", id, "points", format.MaxInternalsPoints)
	}
	if res.Damaged > 0 {
		// A row that cannot be read costs the samples up to the next
		// keyframe (docs/stats-file.md#how-the-store-keeps-samples).
		f.Logger.Warn("samples left out: their rows in the store are damaged", "samples", res.Damaged)
	}
	if res.StatsPath != "" {
		fmt.Fprintln(f.IO.Out, res.StatsPath)
		f.Logger.Info("stats file written", "participant", res.Participant, "calls", res.Calls, "path", res.StatsPath, "format", opts.Format)
	}
	if res.LogsPath != "" {
		fmt.Fprintln(f.IO.Out, res.LogsPath)
		f.Logger.Info("logs file written", "participant", res.Participant, "entries", res.Logs, "path", res.LogsPath)
	}
	return err
}
