// Package dumpcmd implements "callstat dump": write a participant's ring to a
// stats file.
package dumpcmd

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/store"
)

// Options are dump's flags and dependencies.
type Options struct {
	Factory     *cmdutil.Factory
	Store       string
	Participant string
	Out         string
	Format      string
	Logs        bool
}

// Formats of the file dump writes.
const (
	FormatSeed      = "seed"
	FormatInternals = "webrtc-internals"
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
the stats file (the SDK's log download), and its path printed too.`,
		Example: `  callstat dump --participant bob@example.com --out artifacts/
  callstat dump --out - | jq '.[0][1] | length'
  callstat dump -p bob@example.com --format webrtc-internals --out artifacts/
  callstat dump -p bob@example.com --logs --out artifacts/`,
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
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Store, "store", f.DefaultStorePath(), "stats store file (env "+cmdutil.EnvStore+")")
	cmd.Flags().StringVarP(&opts.Participant, "participant", "p", "", "whose calls to write (the caller's --from or the answerer's --as)")
	cmd.Flags().StringVarP(&opts.Out, "out", "o", ".", "directory for the stats file, or - for standard output")
	cmd.Flags().StringVar(&opts.Format, "format", FormatSeed, "file format: seed or webrtc-internals")
	cmd.Flags().BoolVar(&opts.Logs, "logs", false, "also write the participant's last 1,000 log entries as <unix-ms>_sdk<version>_logs.ndjson")
	return cmd
}

// Run writes the file.
func Run(ctx context.Context, opts *Options) error {
	f := opts.Factory
	st, err := cmdutil.OpenStoreToRead(ctx, opts.Store)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	participant, err := st.ResolveParticipant(ctx, opts.Participant)
	if err != nil {
		return err
	}
	now := f.Now()
	var path string
	var n int
	if opts.Format == FormatInternals {
		var truncated []string
		path, n, truncated, err = WriteInternals(ctx, st, participant, opts.Out, f.IO.Out, stats.InternalsFileName(now, f.Build.Version))
		for _, id := range truncated {
			f.Logger.Warn("call longer than the webrtc-internals format holds: its series keep their last points, as Chrome's do",
				"call", id, "points", stats.MaxInternalsPoints)
		}
	} else {
		path, n, err = Write(ctx, st, participant, opts.Out, f.IO.Out, stats.StatsFileName(now, f.Build.Version))
	}
	if err != nil {
		return err
	}
	if n := st.Damaged(); n > 0 {
		// A row that cannot be read costs the samples up to the next
		// keyframe (docs/stats-file.md#how-the-store-keeps-samples).
		f.Logger.Warn("samples left out: their rows in the store are damaged", "samples", n)
	}
	if path != "" {
		fmt.Fprintln(f.IO.Out, path)
		f.Logger.Info("stats file written", "participant", participant, "calls", n, "path", path, "format", opts.Format)
	}
	if opts.Logs {
		path, n, err := WriteLogs(ctx, st, participant, opts.Out, stats.LogsFileName(now, f.Build.Version))
		if err != nil {
			return err
		}
		fmt.Fprintln(f.IO.Out, path)
		f.Logger.Info("logs file written", "participant", participant, "entries", n, "path", path)
	}
	return nil
}

// WriteLogs writes a participant's kept log entries to dir/name as NDJSON.
// It returns the path and the number of entries.
func WriteLogs(ctx context.Context, st *store.Store, participant, dir, name string) (string, int, error) {
	return writeAtomic(dir, name, "logs", func(w io.Writer) (int, error) { return st.WriteLogsNDJSON(ctx, w, participant) })
}

// writeAtomic fills dir/name through stats.WriteFileAtomic and returns its
// path and the count fill returned.
func writeAtomic(dir, name, what string, fill func(io.Writer) (int, error)) (string, int, error) {
	var n int
	path, err := stats.WriteFileAtomic(dir, name, func(w io.Writer) error {
		var err error
		n, err = fill(w)
		return err
	})
	if err != nil {
		return "", 0, fmt.Errorf("writing the %s file in %s: %w", what, dir, err)
	}
	return path, n, nil
}

// Write writes a participant's ring into dir/name, or to stdout when dir is
// "-". It returns the path written ("" for stdout) and the number of calls.
func Write(ctx context.Context, st *store.Store, participant, dir string, stdout io.Writer, name string) (string, int, error) {
	if dir == "-" {
		n, err := st.WriteSeedJSON(ctx, stdout, participant)
		return "", n, err
	}
	return writeAtomic(dir, name, "stats", func(w io.Writer) (int, error) { return st.WriteSeedJSON(ctx, w, participant) })
}

// WriteInternals is Write in the webrtc-internals format; it also returns
// the calls whose series were cut to their last points.
func WriteInternals(ctx context.Context, st *store.Store, participant, dir string, stdout io.Writer, name string) (string, int, []string, error) {
	var truncated []string
	fill := func(w io.Writer) (int, error) {
		n, tr, err := st.WriteInternals(ctx, w, participant)
		truncated = tr
		return n, err
	}
	if dir == "-" {
		n, err := fill(stdout)
		return "", n, truncated, err
	}
	path, n, err := writeAtomic(dir, name, "stats", fill)
	return path, n, truncated, err
}
