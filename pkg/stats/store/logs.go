package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/callstat/callstat/pkg/stats"
)

// migrateLogs adds the logs table: the last stats.MaxLogEntries log entries
// of each participant, each the SDK's Log Entry as a JSON object.
func migrateLogs(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS logs (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT, -- order in which entries were logged
	participant TEXT NOT NULL,
	ts_ms       INTEGER NOT NULL,
	entry       BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_participant ON logs (participant, seq);`)
	return err
}

// writeLogs stores entries in the batch's transaction and trims each
// participant to the newest stats.MaxLogEntries.
func writeLogs(ctx context.Context, tx *sql.Tx, entries []stats.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	// Entries that the trim would delete at once are not written at all.
	count := map[string]int{}
	for _, e := range entries {
		count[e.Participant]++
	}
	skip := map[string]int{}
	for p, n := range count {
		skip[p] = max(0, n-stats.MaxLogEntries)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO logs (participant, ts_ms, entry) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer func() { _ = ins.Close() }()
	for _, e := range entries {
		if skip[e.Participant] > 0 {
			skip[e.Participant]--
			continue
		}
		if _, err := ins.ExecContext(ctx, e.Participant, e.Time.UnixMilli(), e.Body); err != nil {
			return fmt.Errorf("storing log entries: %w", err)
		}
	}
	for p := range count {
		if _, err := tx.ExecContext(ctx, `DELETE FROM logs WHERE participant = ? AND seq <=
			(SELECT seq FROM logs WHERE participant = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
			p, p, stats.MaxLogEntries); err != nil {
			return fmt.Errorf("trimming log entries: %w", err)
		}
	}
	return nil
}

// WriteLogsNDJSON writes a participant's kept log entries, oldest first, one
// JSON object per line: the SDK's log download. It returns how many it
// wrote.
func (s *Store) WriteLogsNDJSON(ctx context.Context, w io.Writer, participant string) (int, error) {
	n := 0
	err := s.snapshot(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT entry FROM logs WHERE participant = ? ORDER BY seq`, participant)
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var entry []byte
			if err := rows.Scan(&entry); err != nil {
				return err
			}
			if _, err := w.Write(append(entry, '\n')); err != nil {
				return err
			}
			n++
		}
		return rows.Err()
	})
	return n, err
}
