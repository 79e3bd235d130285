package stats

import (
	"log/slog"
	"testing"
)

func TestLogLevelName(t *testing.T) {
	tests := map[slog.Level]string{
		slog.LevelDebug - 8: "debug", slog.LevelDebug: "debug", slog.LevelInfo: "info",
		slog.LevelWarn: "warn", slog.LevelError: "error", slog.LevelError + 4: "error",
	}
	for l, want := range tests {
		if got := LogLevelName(l); got != want {
			t.Errorf("LogLevelName(%v) = %s, want %s", l, got, want)
		}
	}
}
