package stats

import (
	"context"
	"time"
)

// CallRecord is what the store keeps about a call besides its samples.
type CallRecord struct {
	CallID      string
	Participant string // whose ring the call belongs to: the caller's --from or the answerer's --as
	Direction   string // "outgoing" or "incoming"
	Peer        string
	StartedAt   time.Time
	SDKVersion  string
}

// EndRecord closes a call's record.
type EndRecord struct {
	CallID      string
	Participant string
	ConnectedAt time.Time // zero if it never connected
	EndedAt     time.Time
	State       string // Ended or Cancelled
	StatusCode  int
	Reason      string
	Error       string // empty for a normal end
}

// Batch is written in one transaction: begins, then samples, then ends,
// then log entries.
type Batch struct {
	Begins  []CallRecord
	Samples []Sample
	Ends    []EndRecord
	Logs    []LogEntry
}

// Len is the number of records in the batch.
func (b *Batch) Len() int { return len(b.Begins) + len(b.Samples) + len(b.Ends) + len(b.Logs) }

// Evicted names a call removed from a ring to make room for a new one.
type Evicted struct {
	Participant string
	CallID      string
}

// Sink stores batches. pkg/stats/store implements it with SQLite.
type Sink interface {
	Write(ctx context.Context, b Batch) ([]Evicted, error)
}

// RingSize is how many calls each participant keeps, as in the seed.
const RingSize = 5

// EvictionMessage is logged when a call is dropped from a ring, in the
// seed's words.
const EvictionMessage = "Removing all call statistics associated with oldest call."
