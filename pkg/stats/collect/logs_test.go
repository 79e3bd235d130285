package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/stats"
)

func decodeRecord(t *testing.T, e stats.LogEntry) stats.LogRecord {
	t.Helper()
	var r stats.LogRecord
	if err := json.Unmarshal(e.Body, &r); err != nil {
		t.Fatalf("entry is not a Log Entry: %v: %s", err, e.Body)
	}
	return r
}

func TestLogBufferHandler(t *testing.T) {
	var console bytes.Buffer
	buf := NewLogBuffer(slog.LevelInfo)
	// The console shows warnings only; the buffer keeps info too.
	next := slog.NewJSONHandler(&console, &slog.HandlerOptions{Level: slog.LevelWarn})
	log := slog.New(buf.Handler(next, "default@example.com"))

	log.Debug("not kept: below the buffer's level")
	log.Info("phone started", "server", "ws://x")
	log.With("participant", "bob@example.com", "call", "c-1").Warn("call state changed",
		"previous", "Ringing", "state", "Connected", "took", 1500*time.Millisecond, "err", errors.New("boom"))
	log.With("participant", "bob@example.com").With("pion", "ice").Info("pion says hi")
	log.WithGroup("g").Info("grouped", "k", 1)
	log.Info("routed by the record", "participant", "carol@example.com")
	slog.New(buf.Handler(next, "")).Info("the server's own line: nobody's")

	// The console got only the warning, whole.
	if lines := strings.Split(strings.TrimSpace(console.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"state":"Connected"`) {
		t.Errorf("console = %q", console.String())
	}

	entries := buf.Drain()
	byParticipant := map[string][]stats.LogRecord{}
	for _, e := range entries {
		byParticipant[e.Participant] = append(byParticipant[e.Participant], decodeRecord(t, e))
	}
	if len(entries) != 5 || len(byParticipant["default@example.com"]) != 2 || len(byParticipant["bob@example.com"]) != 2 ||
		len(byParticipant["carol@example.com"]) != 1 {
		t.Fatalf("kept %d entries: %v", len(entries), byParticipant)
	}
	started := byParticipant["default@example.com"][0]
	if started.Level != "info" || started.Method != "info" || started.Target != (stats.LogTarget{Type: "Phone", ID: "default@example.com"}) ||
		started.Messages[0] != "phone started" || started.Messages[1].(map[string]any)["server"] != "ws://x" {
		t.Errorf("entry = %+v", started)
	}
	changed := byParticipant["bob@example.com"][0]
	fields := changed.Messages[1].(map[string]any)
	if changed.Level != "warn" || changed.Target != (stats.LogTarget{Type: "Call", ID: "c-1"}) || fields["took"] != "1.5s" ||
		fields["err"] != "boom" || fields["participant"] != "bob@example.com" || fields["state"] != "Connected" {
		t.Errorf("entry = %+v", changed)
	}
	if pion := byParticipant["bob@example.com"][1]; pion.Target != (stats.LogTarget{Type: "WebRTC", Name: "ice"}) {
		t.Errorf("pion entry target = %+v", pion.Target)
	}
	if g := byParticipant["default@example.com"][1]; g.Messages[1].(map[string]any)["g.k"] != 1.0 {
		t.Errorf("grouped attribute = %v", g.Messages)
	}
	if len(buf.Drain()) != 0 {
		t.Error("Drain did not empty the buffer")
	}
}

func TestLogBufferKeepsTheNewestPerParticipant(t *testing.T) {
	buf := NewLogBuffer(slog.LevelInfo)
	log := slog.New(buf.Handler(slog.DiscardHandler, "a"))
	for i := 0; i < 2*stats.MaxLogEntries+123; i++ {
		log.Info(fmt.Sprint(i))
	}
	log.Info("b's only line", "participant", "b")
	entries := buf.Drain()
	if len(entries) != stats.MaxLogEntries+1 {
		t.Fatalf("drained %d entries, want %d", len(entries), stats.MaxLogEntries+1)
	}
	for i, e := range entries[:stats.MaxLogEntries] {
		want := fmt.Sprint(stats.MaxLogEntries + 123 + i)
		if r := decodeRecord(t, e); r.Messages[0] != want {
			t.Fatalf("entry %d = %v, want %s: the newest, oldest first", i, r.Messages[0], want)
		}
	}
	if entries[stats.MaxLogEntries].Participant != "b" {
		t.Errorf("last entry is %s's", entries[stats.MaxLogEntries].Participant)
	}
}
