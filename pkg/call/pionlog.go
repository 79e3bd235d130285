package call

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// Levels pion's chatter lands at. pion logs handshakes and gathering at
// info; users want that only when debugging, so everything below warn goes
// below slog's debug level, and --log-level debug shows pion's info.
const (
	levelPionTrace = slog.LevelDebug - 8
	levelPionDebug = slog.LevelDebug - 4
	levelPionInfo  = slog.LevelDebug
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
func (p pionLogger) Warn(msg string)                   { p.log(slog.LevelWarn, msg) }
func (p pionLogger) Warnf(format string, args ...any)  { p.logf(slog.LevelWarn, format, args...) }
func (p pionLogger) Error(msg string)                  { p.log(slog.LevelError, msg) }
func (p pionLogger) Errorf(format string, args ...any) { p.logf(slog.LevelError, format, args...) }
