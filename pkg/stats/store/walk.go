package store

import (
	"context"
	"time"
)

// Walk streams a participant's ring from one snapshot, oldest call first:
// call is told each call, then sample is given each of its samples in
// order, decoded whole (body is only valid during that call to sample).
// Rows that cannot be decoded are skipped and counted (Damaged). A report
// that draws every sample of a call uses it: one sample in memory at a
// time.
func (s *Store) Walk(ctx context.Context, participant string, call func(CallInfo) error,
	sample func(n int, ts time.Time, body []byte) error) error {
	return s.snapshot(ctx, func(q querier) error {
		cs, err := calls(ctx, q, participant)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if err := call(c); err != nil {
				return err
			}
			if err := s.eachSample(ctx, q, participant, c.CallID, sample); err != nil {
				return err
			}
		}
		return nil
	})
}
