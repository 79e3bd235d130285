package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callstat/callstat/pkg/stats"
)

// LogBuffer holds log entries until the collector commits them with the
// next stats batch, at most MaxLogEntries per participant: older ones could
// only be trimmed from the store anyway.
type LogBuffer struct {
	level slog.Leveler

	mu      sync.Mutex
	pending map[string][]stats.LogEntry
	order   []string // participants in the order they first logged
}

// NewLogBuffer keeps entries at level or above.
func NewLogBuffer(level slog.Leveler) *LogBuffer {
	return &LogBuffer{level: level, pending: map[string][]stats.LogEntry{}}
}

func (b *LogBuffer) add(e stats.LogEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.pending[e.Participant]
	if !ok {
		b.order = append(b.order, e.Participant)
	}
	q = append(q, e)
	// Trim in bulk so that adding stays O(1) amortised.
	if len(q) >= 2*stats.MaxLogEntries {
		q = append(q[:0:0], q[len(q)-stats.MaxLogEntries:]...)
	}
	b.pending[e.Participant] = q
}

// Drain returns what is buffered, oldest first within each participant, at
// most MaxLogEntries each, and empties the buffer.
func (b *LogBuffer) Drain() []stats.LogEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []stats.LogEntry
	for _, p := range b.order {
		q := b.pending[p]
		if len(q) > stats.MaxLogEntries {
			q = q[len(q)-stats.MaxLogEntries:]
		}
		out = append(out, q...)
	}
	b.pending = map[string][]stats.LogEntry{}
	b.order = nil
	return out
}

// Handler returns an slog.Handler that passes every record on to next and
// keeps a copy of those at the buffer's level for their participant: the
// "participant" attribute of the record or of the logger, else def. Records
// with neither (the signaling server's own) are not kept.
func (b *LogBuffer) Handler(next slog.Handler, def string) slog.Handler {
	return &teeHandler{next: next, buf: b, participant: def}
}

type teeHandler struct {
	next        slog.Handler
	buf         *LogBuffer
	attrs       []slog.Attr // from WithAttrs, keys prefixed with their groups
	groups      []string
	participant string
	callID      string
	pionScope   string
}

func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.buf.level.Level() || h.next.Enabled(ctx, l)
}

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if r.Level >= h.buf.level.Level() {
		if e, ok := h.entry(r); ok {
			h.buf.add(e)
		}
	}
	return err
}

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = slices.Concat(h.attrs, h.prefixed(as))
	if len(h.groups) == 0 {
		c.capture(as)
	}
	return &c
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.groups = slices.Concat(h.groups, []string{name})
	return &c
}

// capture notes the attributes that route and target an entry.
func (h *teeHandler) capture(as []slog.Attr) {
	for _, a := range as {
		switch a.Key {
		case "participant":
			h.participant = a.Value.Resolve().String()
		case "call":
			h.callID = a.Value.Resolve().String()
		case "pion":
			h.pionScope = a.Value.Resolve().String()
		}
	}
}

func (h *teeHandler) prefixed(as []slog.Attr) []slog.Attr {
	if len(h.groups) == 0 {
		return as
	}
	prefix := strings.Join(h.groups, ".") + "."
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = slog.Attr{Key: prefix + a.Key, Value: a.Value}
	}
	return out
}

func (h *teeHandler) entry(r slog.Record) (stats.LogEntry, bool) {
	routed := *h
	var recAttrs []slog.Attr
	r.Attrs(func(a slog.Attr) bool {
		recAttrs = append(recAttrs, a)
		return true
	})
	if len(h.groups) == 0 {
		routed.capture(recAttrs)
	}
	if routed.participant == "" {
		return stats.LogEntry{}, false
	}
	fields := map[string]any{}
	for _, a := range slices.Concat(h.attrs, h.prefixed(recAttrs)) {
		if a.Key == "" {
			continue
		}
		fields[a.Key] = logValue(a.Value)
	}
	ts := r.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	level := stats.LogLevelName(r.Level)
	rec := stats.LogRecord{Timestamp: ts.UnixMilli(), Level: level, Method: level, Messages: []any{r.Message}}
	switch {
	case routed.callID != "":
		rec.Target = stats.LogTarget{Type: "Call", ID: routed.callID}
	case routed.pionScope != "":
		rec.Target = stats.LogTarget{Type: "WebRTC", Name: routed.pionScope}
	default:
		rec.Target = stats.LogTarget{Type: "Phone", ID: routed.participant}
	}
	if len(fields) > 0 {
		rec.Messages = append(rec.Messages, fields)
	}
	body, err := json.Marshal(rec)
	if err != nil {
		// logValue only yields JSON-safe values; keep the message at least.
		rec.Messages = []any{r.Message, fmt.Sprint(fields)}
		body, _ = json.Marshal(rec)
	}
	return stats.LogEntry{Participant: routed.participant, Time: ts, Body: body}, true
}

// logValue turns an attribute into something encoding/json writes as the
// reader expects: errors and durations as text, groups as objects.
func logValue(v slog.Value) any {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindInt64:
		return v.Int64()
	case slog.KindUint64:
		return v.Uint64()
	case slog.KindFloat64:
		f := v.Float64()
		if f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308 {
			return fmt.Sprint(f) // NaN and ±Inf are not JSON
		}
		return f
	case slog.KindBool:
		return v.Bool()
	case slog.KindDuration:
		return v.Duration().String()
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindGroup:
		m := map[string]any{}
		for _, a := range v.Group() {
			m[a.Key] = logValue(a.Value)
		}
		return m
	}
	switch x := v.Any().(type) {
	case error:
		return x.Error()
	case fmt.Stringer:
		return x.String()
	case json.Marshaler:
		return x
	default:
		if _, err := json.Marshal(x); err != nil {
			return fmt.Sprint(x)
		}
		return x
	}
}
