package store

import (
	"context"
	"fmt"
	"time"
)

// EachSample calls fn with every stored sample of a call in order, as the
// raw JSON array stored. It streams: one sample in memory at a time.
func (s *Store) EachSample(ctx context.Context, participant, callID string, fn func(n int, ts time.Time, body []byte) error) error {
	return s.eachSample(ctx, s.db, participant, callID, fn)
}

// IntegrityCheck runs SQLite's integrity_check.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	var res string
	if err := s.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("integrity_check: %s", res)
	}
	return nil
}
