package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/callstat/callstat/pkg/stats/format"
	"github.com/callstat/callstat/pkg/stats/report"
	"github.com/callstat/callstat/pkg/stats/store"
)

// Stats file formats.
const (
	// FormatSeed is the stats file: [[callId, [stat, ...]], ...]
	// (docs/stats-file.md).
	FormatSeed = "seed"
	// FormatInternals is Chrome's chrome://webrtc-internals dump.
	FormatInternals = "webrtc-internals"
)

// OpenStoreToRead opens an existing store for reading: a missing file is
// "nothing stored" (store.ErrNoParticipant), not a new empty store. hint,
// if not empty, is added to that message: how to name another store.
func OpenStoreToRead(ctx context.Context, path, hint string) (*store.Store, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if hint != "" {
			hint = " (" + hint + ")"
		}
		return nil, fmt.Errorf("%w: no store at %s%s", store.ErrNoParticipant, path, hint)
	}
	return store.Open(ctx, path)
}

// WriteStatsFile writes a participant's ring as a stats file into
// dir/name, or to stdout when dir is "-". It returns the path written (""
// for stdout) and the number of calls.
func WriteStatsFile(ctx context.Context, st *store.Store, participant, dir string, stdout io.Writer, name string) (string, int, error) {
	if dir == "-" {
		n, err := st.WriteSeedJSON(ctx, stdout, participant)
		return "", n, err
	}
	return writeAtomic(dir, name, "stats", func(w io.Writer) (int, error) { return st.WriteSeedJSON(ctx, w, participant) })
}

// WriteInternalsFile is WriteStatsFile in the webrtc-internals format; it
// also returns the calls whose series were cut to their last points.
func WriteInternalsFile(ctx context.Context, st *store.Store, participant, dir string, stdout io.Writer, name string) (string, int, []string, error) {
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

// WriteLogsFile writes a participant's kept log entries to dir/name as
// NDJSON. It returns the path and the number of entries.
func WriteLogsFile(ctx context.Context, st *store.Store, participant, dir, name string) (string, int, error) {
	return writeAtomic(dir, name, "logs", func(w io.Writer) (int, error) { return st.WriteLogsNDJSON(ctx, w, participant) })
}

// writeAtomic fills dir/name through format.WriteFileAtomic and returns its
// path and the count fill returned.
func writeAtomic(dir, name, what string, fill func(io.Writer) (int, error)) (string, int, error) {
	var n int
	path, err := format.WriteFileAtomic(dir, name, func(w io.Writer) error {
		var err error
		n, err = fill(w)
		return err
	})
	if err != nil {
		return "", 0, fmt.Errorf("writing the %s file in %s: %w", what, dir, err)
	}
	return path, n, nil
}

// DumpConfig says which participant's calls to write, where and how.
type DumpConfig struct {
	StorePath string
	StoreHint string // see OpenStoreToRead
	// Participant may be empty when the store holds a single one.
	Participant string
	Dir         string    // or "-" for Stdout
	Stdout      io.Writer // for Dir "-"
	Format      string    // FormatSeed or FormatInternals
	Logs        bool      // also write the participant's log entries
	Now         time.Time // names the files
	Version     string    // names the files
}

// DumpResult is what Dump wrote.
type DumpResult struct {
	Participant string
	StatsPath   string // "" for Stdout
	Calls       int
	// Truncated are the calls whose webrtc-internals series were cut to
	// their last format.MaxInternalsPoints points, as Chrome's are.
	Truncated []string
	// Damaged counts samples left out because their rows in the store
	// could not be read (docs/stats-file.md#how-the-store-keeps-samples).
	Damaged  int64
	LogsPath string
	Logs     int
}

// Dump writes a participant's ring (at most five calls) to a stats file,
// and with cfg.Logs its log entries to an NDJSON file beside it.
func Dump(ctx context.Context, cfg DumpConfig) (DumpResult, error) {
	var res DumpResult
	st, err := OpenStoreToRead(ctx, cfg.StorePath, cfg.StoreHint)
	if err != nil {
		return res, err
	}
	defer func() { _ = st.Close() }()
	if res.Participant, err = st.ResolveParticipant(ctx, cfg.Participant); err != nil {
		return res, err
	}
	if cfg.Format == FormatInternals {
		res.StatsPath, res.Calls, res.Truncated, err = WriteInternalsFile(ctx, st, res.Participant, cfg.Dir, cfg.Stdout,
			format.InternalsFileName(cfg.Now, cfg.Version))
	} else {
		res.StatsPath, res.Calls, err = WriteStatsFile(ctx, st, res.Participant, cfg.Dir, cfg.Stdout,
			format.StatsFileName(cfg.Now, cfg.Version))
	}
	if err != nil {
		return res, err
	}
	res.Damaged = st.Damaged()
	if cfg.Logs {
		res.LogsPath, res.Logs, err = WriteLogsFile(ctx, st, res.Participant, cfg.Dir, format.LogsFileName(cfg.Now, cfg.Version))
	}
	return res, err
}

// Summaries reads the summary of every stored call, or of one
// participant's (resolved as the store resolves a partial id). An empty
// store is store.ErrNoParticipant.
func Summaries(ctx context.Context, storePath, storeHint, participant string) ([]report.CallSummary, error) {
	st, err := OpenStoreToRead(ctx, storePath, storeHint)
	if err != nil {
		return nil, err
	}
	defer func() { _ = st.Close() }()
	if participant != "" {
		if participant, err = st.ResolveParticipant(ctx, participant); err != nil {
			return nil, err
		}
	}
	rows, err := st.Summarize(ctx, participant)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: the store %s is empty", store.ErrNoParticipant, storePath)
	}
	return rows, nil
}
