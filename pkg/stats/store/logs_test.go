package store_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/collect"
	"github.com/callstat/callstat/pkg/stats/store"
)

func logEntry(participant string, i int) stats.LogEntry {
	ts := t0.Add(time.Duration(i) * time.Millisecond)
	body, _ := json.Marshal(stats.LogRecord{Timestamp: ts.UnixMilli(), Level: "info", Method: "info",
		Target: stats.LogTarget{Type: "Phone", ID: participant}, Messages: []any{fmt.Sprint(i)}})
	return stats.LogEntry{Participant: participant, Time: ts, Body: body}
}

// readLogs returns the messages of a participant's log download, checking
// that every line is one JSON object.
func readLogs(t *testing.T, st *store.Store, participant string) []string {
	t.Helper()
	var buf bytes.Buffer
	n, err := st.WriteLogsNDJSON(context.Background(), &buf, participant)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var r stats.LogRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d is not a Log Entry: %v", len(msgs)+1, err)
		}
		msgs = append(msgs, r.Messages[0].(string))
	}
	if n != len(msgs) {
		t.Errorf("WriteLogsNDJSON said %d entries, wrote %d lines", n, len(msgs))
	}
	return msgs
}

func TestLogsKeepTheNewestPerParticipant(t *testing.T) {
	st, _ := newStore(t)
	// Three batches for bob, one of them alone over the limit, and a few
	// lines of alice's in between.
	next := 0
	for _, n := range []int{600, 1500, 300} {
		var b stats.Batch
		for range n {
			b.Logs = append(b.Logs, logEntry("bob", next))
			next++
		}
		b.Logs = append(b.Logs, logEntry("alice", next))
		write(t, st, b)
	}
	got := readLogs(t, st, "bob")
	if len(got) != stats.MaxLogEntries {
		t.Fatalf("bob has %d entries, want %d", len(got), stats.MaxLogEntries)
	}
	for i, m := range got {
		if want := fmt.Sprint(next - stats.MaxLogEntries + i); m != want {
			t.Fatalf("entry %d = %s, want %s: the newest, oldest first", i, m, want)
		}
	}
	if got := readLogs(t, st, "alice"); !reflect.DeepEqual(got, []string{"600", "2100", "2400"}) {
		t.Errorf("alice's entries %v", got)
	}
	if got := readLogs(t, st, "nobody"); len(got) != 0 {
		t.Errorf("nobody's entries %v", got)
	}
}

// A store made by the first release (schema v1: calls and samples) opens,
// keeps its calls, and gains the logs table.
func TestMigrationFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db := rawDB(t, path)
	for _, q := range append(schemaV1(),
		`INSERT INTO samples VALUES (1, 0, 1700000001000, '[{"id":"x","type":"transport"}]')`,
		`PRAGMA user_version = 1`,
	) {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()

	st := openStore(t, path)
	if ids := callIDs(t, st, "bob"); !reflect.DeepEqual(ids, []string{"old-call"}) {
		t.Errorf("calls after migration: %v", ids)
	}
	write(t, st, stats.Batch{Logs: []stats.LogEntry{logEntry("bob", 1)}})
	if got := readLogs(t, st, "bob"); !reflect.DeepEqual(got, []string{"1"}) {
		t.Errorf("logs after migration: %v", got)
	}
	if v := queryInt(t, rawDB(t, path), `PRAGMA user_version`); v != store.SchemaVersion() {
		t.Errorf("user_version = %d after migration, want %d", v, store.SchemaVersion())
	}
}

// The collector commits log entries with the stats, and what was logged
// up to Close.
func TestCollectorCommitsLogs(t *testing.T) {
	st, _ := newStore(t)
	logs := collect.NewLogBuffer(slog.LevelInfo)
	log := slog.New(logs.Handler(slog.DiscardHandler, "bob"))
	col := collect.New(collect.Config{Sink: st, Interval: 20 * time.Millisecond, SDK: testSDK, Logger: log, Logs: logs})
	src := &countingSource{id: "c1"}
	col.Start(src, stats.CallRecord{CallID: "c1", Participant: "bob", Direction: "outgoing", Peer: "alice", StartedAt: time.Now()})
	log.Info("before the first sample")
	deadline := time.Now().Add(30 * time.Second)
	for col.Written() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no samples written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Committed with a stats batch, while the collector runs.
	for !contains(readLogs(t, st, "bob"), "before the first sample") {
		if time.Now().After(deadline) {
			t.Fatal("log entry not committed with the samples")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := col.Stop(context.Background(), stats.EndRecord{CallID: "c1", Participant: "bob", State: "Ended", EndedAt: time.Now()}, true); err != nil {
		t.Fatal(err)
	}
	log.Info("after the call")
	if err := col.Close(); err != nil {
		t.Fatal(err)
	}
	got := readLogs(t, st, "bob")
	for _, want := range []string{"Starting call stats collection.", "before the first sample", "Stopping call stats collection.", "after the call"} {
		if !contains(got, want) {
			t.Errorf("stored logs lack %q: %v", want, got)
		}
	}
	if got[len(got)-1] != "after the call" {
		t.Errorf("last stored entry %q, want the last logged", got[len(got)-1])
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// schemaV1 is the first release's schema (calls and samples) with one
// ended call of bob's, old-call, for the migration tests to start from.
func schemaV1() []string {
	return []string{
		`CREATE TABLE calls (seq INTEGER PRIMARY KEY AUTOINCREMENT, participant TEXT NOT NULL, call_id TEXT NOT NULL,
			direction TEXT NOT NULL, peer TEXT NOT NULL, started_ms INTEGER NOT NULL, sdk_version TEXT NOT NULL,
			connected_ms INTEGER, ended_ms INTEGER, end_state TEXT, status_code INTEGER, reason TEXT, error TEXT,
			UNIQUE (participant, call_id))`,
		`CREATE INDEX calls_by_participant ON calls (participant, seq)`,
		`CREATE TABLE samples (call_seq INTEGER NOT NULL, n INTEGER NOT NULL, ts_ms INTEGER NOT NULL, body BLOB NOT NULL,
			PRIMARY KEY (call_seq, n)) WITHOUT ROWID`,
		`INSERT INTO calls (participant, call_id, direction, peer, started_ms, sdk_version, end_state)
			VALUES ('bob', 'old-call', 'outgoing', 'alice', 1700000000000, '0.1.0', 'Ended')`,
	}
}
