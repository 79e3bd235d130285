// Package cmdutil holds what every callstat command shares: the factory of
// injected dependencies (streams, logger, build, environment, clock; it
// builds no domain objects: pkg/app does), the exit-code table, and the
// flags and environment variables several commands take.
package cmdutil

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/callstat/callstat/cmd/callstat/internal/buildinfo"
	"github.com/callstat/callstat/cmd/callstat/internal/ui"
	"github.com/callstat/callstat/pkg/app"
)

// IOStreams are the process's standard streams: data to Out, everything
// for humans (logs, progress, errors) to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Factory carries the dependencies commands use, so that tests can swap
// them.
type Factory struct {
	IO     IOStreams
	Build  buildinfo.Info
	Getenv func(string) string
	Now    func() time.Time
	// Logger is set by the root command from --log-level/--log-format
	// before any command runs; LogLevel and LogFormat are what it was set
	// from.
	Logger    *slog.Logger
	LogLevel  slog.Level
	LogFormat string
	// Status draws status lines on stderr: set by the root command when
	// stderr is a terminal and neither --quiet nor --no-progress is given
	// (IO.ErrOut then writes through it).
	Status *ui.Terminal
	// InstanceID identifies this process in the SDK entry of its samples.
	InstanceID string
}

// NewFactory returns the factory for a real process.
func NewFactory() *Factory {
	return &Factory{
		IO:         IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		Build:      buildinfo.Read(),
		Getenv:     os.Getenv,
		Now:        time.Now,
		Logger:     slog.New(slog.DiscardHandler),
		InstanceID: uuid.NewString(),
	}
}

// DefaultServer is the signaling URL clients use by default.
const DefaultServer = app.DefaultServerURL

// EnvOr returns the environment variable's value, or def.
func (f *Factory) EnvOr(name, def string) string {
	if v := f.Getenv(name); v != "" {
		return v
	}
	return def
}

// DefaultStorePath is $CALLSTAT_STORE, else callstat.db in the XDG state
// directory ($XDG_STATE_HOME/callstat, default ~/.local/state/callstat).
func (f *Factory) DefaultStorePath() string {
	if p := f.Getenv(EnvStore); p != "" {
		return p
	}
	dir := f.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home := f.Getenv("HOME")
		if home == "" {
			home = "."
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "callstat", "callstat.db")
}

// Log levels, the SDK's names.
var logLevels = map[string]slog.Level{
	"debug":  slog.LevelDebug,
	"info":   slog.LevelInfo,
	"warn":   slog.LevelWarn,
	"error":  slog.LevelError,
	"silent": slog.LevelError + 100,
}

// ParseLogLevel reads an SDK level name.
func ParseLogLevel(level string) (slog.Level, error) {
	lvl, ok := logLevels[strings.ToLower(level)]
	if !ok {
		return 0, FlagErrorf("invalid --log-level %q: use silent, error, warn, info or debug", level)
	}
	return lvl, nil
}

// NewLogger builds the process logger from --log-level and --log-format.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	lvl, err := ParseLogLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, FlagErrorf("invalid --log-format %q: use text or json", format)
	}
}

// Output shows results on stderr (call summaries, breaches of --assert, a
// load run's summary) in the form --log-format and --quiet ask for. Make
// it once the root command has set the logger up, and share it between
// goroutines.
func (f *Factory) Output() *ui.Output {
	return &ui.Output{W: f.IO.ErrOut, JSON: f.LogFormat == "json", Quiet: f.LogLevel > slog.LevelInfo, Now: f.Now}
}

// StoredLogLevel is the level from which log entries are kept in the
// store: info and above whatever the console shows (a --quiet CI run can
// still dump its logs), and debug too with --log-level debug.
func (f *Factory) StoredLogLevel() slog.Level { return min(f.LogLevel, slog.LevelInfo) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// Discard is a logger that drops everything.
var Discard = slog.New(slog.DiscardHandler)
