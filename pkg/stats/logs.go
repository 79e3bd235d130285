package stats

import (
	"log/slog"
	"time"
)

// MaxLogEntries is how many log entries each participant keeps, as the
// SDK's log download does.
const MaxLogEntries = 1000

// LogEntry is one log record kept for a participant. Body is the SDK's Log
// Entry as a JSON object (LogRecord).
type LogEntry struct {
	Participant string
	Time        time.Time
	Body        []byte
}

// LogRecord is the SDK's Log Entry: when, at which level, about what
// (target), and the message followed by its attributes.
type LogRecord struct {
	// Timestamp is Unix milliseconds.
	Timestamp int64 `json:"timestamp"`
	// Level is the SDK's level name: debug, info, warn or error.
	Level string `json:"level"`
	// Method is the console method the SDK would use; the same names.
	Method   string    `json:"method"`
	Target   LogTarget `json:"target"`
	Messages []any     `json:"messages"`
}

// LogTarget says what a log entry is about: a call (type Call, id its call
// id), pion's WebRTC stack (type WebRTC, name its scope) or the phone
// itself (type Phone, id the participant).
type LogTarget struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// LogLevelName is the SDK's name for an slog level. pion's levels below
// debug count as debug.
func LogLevelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}
