package call

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// Levels pion's chatter lands at. pion warns about many benign races
// (a packet on a stream that just closed, a ping before candidates arrive),
// so its info and warnings show only with --log-level debug and its errors
// as warnings; callstat itself reports what matters to the user.
const (
	levelPionTrace = slog.LevelDebug - 8
	levelPionDebug = slog.LevelDebug - 4
	levelPionInfo  = slog.LevelDebug - 2
	levelPionWarn  = slog.LevelDebug
	levelPionError = slog.LevelWarn
)

// PionLoggerFactory bridges pion's logging into an slog handler, tagging
// each line with pion's scope.
type PionLoggerFactory struct {
	Logger *slog.Logger
}

// NewLogger implements logging.LoggerFactory.
func (f PionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	l := f.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return pionLogger{l: l.With("pion", scope)}
}

type pionLogger struct{ l *slog.Logger }

func (p pionLogger) log(level slog.Level, msg string) {
	ctx := context.Background()
	if p.l.Enabled(ctx, level) {
		p.l.Log(ctx, level, msg)
	}
}

func (p pionLogger) logf(level slog.Level, format string, args ...any) {
	ctx := context.Background()
	if p.l.Enabled(ctx, level) {
		p.l.Log(ctx, level, fmt.Sprintf(format, args...))
	}
}

func (p pionLogger) Trace(msg string)                  { p.log(levelPionTrace, msg) }
func (p pionLogger) Tracef(format string, args ...any) { p.logf(levelPionTrace, format, args...) }
func (p pionLogger) Debug(msg string)                  { p.log(levelPionDebug, msg) }
func (p pionLogger) Debugf(format string, args ...any) { p.logf(levelPionDebug, format, args...) }
func (p pionLogger) Info(msg string)                   { p.log(levelPionInfo, msg) }
func (p pionLogger) Infof(format string, args ...any)  { p.logf(levelPionInfo, format, args...) }
func (p pionLogger) Warn(msg string)                   { p.log(levelPionWarn, msg) }
func (p pionLogger) Warnf(format string, args ...any)  { p.logf(levelPionWarn, format, args...) }
func (p pionLogger) Error(msg string)                  { p.log(levelPionError, msg) }
func (p pionLogger) Errorf(format string, args ...any) { p.logf(levelPionError, format, args...) }
