// Package dump implements "callstat dump": write a participant's ring to a
// stats file.
package dump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

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

--participant may be omitted when the store holds a single participant.`,
		Example: `  callstat dump --participant bob@example.com --out artifacts/
  callstat dump --out - | jq '.[0][1] | length'
  callstat dump -p bob@example.com --format webrtc-internals --out artifacts/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Out == "" {
				return cmdutil.FlagErrorf("--out must not be empty (use - for standard output)")
			}
			if opts.Format != FormatSeed && opts.Format != FormatInternals {
				return cmdutil.FlagErrorf("invalid --format %q: use %s or %s", opts.Format, FormatSeed, FormatInternals)
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
	return cmd
}

// Run writes the file.
func Run(ctx context.Context, opts *Options) error {
	f := opts.Factory
	if _, err := os.Stat(opts.Store); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: no store at %s (set --store or %s)", store.ErrNoParticipant, opts.Store, cmdutil.EnvStore)
	}
	st, err := store.Open(ctx, opts.Store)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	participant, err := st.ResolveParticipant(ctx, opts.Participant)
	if err != nil {
		return err
	}
	var path string
	var n int
	if opts.Format == FormatInternals {
		var truncated []string
		path, n, truncated, err = WriteInternals(ctx, st, participant, opts.Out, f.IO.Out, stats.InternalsFileName(f.Now(), f.Build.Version))
		for _, id := range truncated {
			f.Logger.Warn("call longer than the webrtc-internals format holds: its series keep their last points, as Chrome's do",
				"call", id, "points", stats.MaxInternalsPoints)
		}
	} else {
		path, n, err = Write(ctx, st, participant, opts.Out, f.IO.Out, stats.StatsFileName(f.Now(), f.Build.Version))
	}
	if err != nil {
		return err
	}
	if path != "" {
		fmt.Fprintln(f.IO.Out, path)
		f.Logger.Info("stats file written", "participant", participant, "calls", n, "path", path, "format", opts.Format)
	}
	return nil
}

// Write writes a participant's ring into dir/name, or to stdout when dir is
// "-". It returns the path written ("" for stdout) and the number of calls.
func Write(ctx context.Context, st *store.Store, participant, dir string, stdout io.Writer, name string) (string, int, error) {
	var n int
	path, err := writeTo(dir, name, stdout, func(w io.Writer) error {
		var err error
		n, err = st.WriteSeedJSON(ctx, w, participant)
		return err
	})
	return path, n, err
}

// WriteInternals is Write in the webrtc-internals format; it also returns
// the calls whose series were cut to their last points.
func WriteInternals(ctx context.Context, st *store.Store, participant, dir string, stdout io.Writer, name string) (string, int, []string, error) {
	var n int
	var truncated []string
	path, err := writeTo(dir, name, stdout, func(w io.Writer) error {
		var err error
		n, truncated, err = st.WriteInternals(ctx, w, participant)
		return err
	})
	return path, n, truncated, err
}

// writeTo runs fill on stdout when dir is "-", else on dir/name written
// atomically.
func writeTo(dir, name string, stdout io.Writer, fill func(io.Writer) error) (string, error) {
	if dir == "-" {
		return "", fill(stdout)
	}
	path, err := stats.WriteFileAtomic(dir, name, fill)
	if err != nil {
		return "", fmt.Errorf("writing the stats file in %s: %w", dir, err)
	}
	return path, nil
}
