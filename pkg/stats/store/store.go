// Package store keeps callstat's calls and their stats samples in SQLite
// (modernc.org/sqlite, no cgo), in WAL mode so that several processes can
// share one file: a ring of stats.RingSize calls per participant.
package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/delta"
	"github.com/callstat/callstat/pkg/stats/format"
	"github.com/callstat/callstat/pkg/stats/report"
)

// Errors.
var (
	// ErrOpen means the store file could not be opened or created.
	ErrOpen = errors.New("cannot open the stats store")
	// ErrNoParticipant means the store holds no calls for the participant.
	ErrNoParticipant = errors.New("no calls stored for this participant")
	// ErrAmbiguous means a participant must be named because the store
	// holds several.
	ErrAmbiguous = errors.New("the store holds several participants")
)

const schema = `
CREATE TABLE IF NOT EXISTS calls (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- order in which calls started
	participant  TEXT NOT NULL,
	call_id      TEXT NOT NULL,
	direction    TEXT NOT NULL,
	peer         TEXT NOT NULL,
	started_ms   INTEGER NOT NULL,
	sdk_version  TEXT NOT NULL,
	connected_ms INTEGER,
	ended_ms     INTEGER,
	end_state    TEXT,
	status_code  INTEGER,
	reason       TEXT,
	error        TEXT,
	UNIQUE (participant, call_id)
);
CREATE INDEX IF NOT EXISTS calls_by_participant ON calls (participant, seq);
CREATE TABLE IF NOT EXISTS samples (
	call_seq INTEGER NOT NULL,
	n        INTEGER NOT NULL,
	ts_ms    INTEGER NOT NULL,
	body     BLOB NOT NULL, -- the sample, encoded as enc (v3) says: pkg/stats/delta
	PRIMARY KEY (call_seq, n)
) WITHOUT ROWID;
`

// Store is an open stats store. It is safe for concurrent use, also by
// several processes on one file.
type Store struct {
	db   *sql.DB
	path string

	mu    sync.Mutex
	calls map[string]*callState // what the delta encoder keeps per call written
	// damaged counts the rows reads had to skip (pkg/stats/delta).
	damaged atomic.Int64
}

// Open opens (creating if needed) the store at path.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty path", ErrOpen)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrOpen, err)
		}
	}
	// busy_timeout lets writers from several processes queue instead of
	// failing with "database is locked"; _txlock=immediate takes the write
	// lock at BEGIN so that a read-then-write transaction never has to
	// upgrade (the upgrade is what fails under contention).
	dsn := fileURI(path) + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrOpen, path, err)
	}
	s := &Store{db: db, path: path, calls: map[string]*callState{}}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%w %s: %v", ErrOpen, path, err)
	}
	return s, nil
}

// fileURI makes path an SQLite URI filename. In a URI, '?' starts the
// parameters, '#' a fragment and '%' an escape, so a path holding any of
// them would open another file; they are percent-encoded. A relative path
// is made absolute so that a leading "//" cannot read as an authority.
func fileURI(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	path = filepath.ToSlash(path)
	var b strings.Builder
	b.WriteString("file:")
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// migrations[i] upgrades a store from schema version i (PRAGMA
// user_version) to i+1, in the one transaction that opens it. Append new
// steps; never change a released one.
var migrations = []func(ctx context.Context, tx *sql.Tx) error{
	func(ctx context.Context, tx *sql.Tx) error { _, err := tx.ExecContext(ctx, schema); return err }, // v1: calls, samples
	migrateLogs, // v2: logs (logs.go)
	// v3: samples.enc, how a row's body is encoded (pkg/stats/delta); the
	// rows already stored are JSON arrays, enc 0.
	func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `ALTER TABLE samples ADD COLUMN enc INTEGER NOT NULL DEFAULT 0`)
		return err
	},
}

// SchemaVersion is the schema version this callstat writes (PRAGMA
// user_version).
func SchemaVersion() int { return len(migrations) }

func (s *Store) migrate(ctx context.Context) error {
	schemaVersion := len(migrations)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("store schema v%d is newer than this callstat (v%d); upgrade callstat", v, schemaVersion)
	}
	for ; v < schemaVersion; v++ {
		if err := migrations[v](ctx, tx); err != nil {
			return fmt.Errorf("migrating the store to v%d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

func ms(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// Write commits a batch in one transaction and trims each participant's
// ring, returning the calls it evicted.
func (s *Store) Write(ctx context.Context, b stats.Batch) ([]stats.Evicted, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()

	var evicted []stats.Evicted
	for _, c := range b.Begins {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO calls
			(participant, call_id, direction, peer, started_ms, sdk_version) VALUES (?, ?, ?, ?, ?, ?)`,
			c.Participant, c.CallID, c.Direction, c.Peer, c.StartedAt.UnixMilli(), c.SDKVersion); err != nil {
			return nil, fmt.Errorf("recording call %s: %w", c.CallID, err)
		}
		ev, err := trimRing(ctx, tx, c.Participant)
		if err != nil {
			return nil, err
		}
		evicted = append(evicted, ev...)
	}

	// What the encoder keeps of each call once this batch is committed;
	// until then the last committed state stands, for a retry.
	states := map[string]*callState{}
	if len(b.Samples) > 0 {
		if err := s.writeSamples(ctx, tx, b, states); err != nil {
			return nil, err
		}
	}

	for _, e := range b.Ends {
		if _, err := tx.ExecContext(ctx, `UPDATE calls SET connected_ms = ?, ended_ms = ?, end_state = ?,
			status_code = ?, reason = ?, error = ? WHERE participant = ? AND call_id = ?`,
			ms(e.ConnectedAt), ms(e.EndedAt), e.State, e.StatusCode, e.Reason, e.Error, e.Participant, e.CallID); err != nil {
			return nil, fmt.Errorf("ending call %s: %w", e.CallID, err)
		}
	}
	if err := writeLogs(ctx, tx, b.Logs); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	maps.Copy(s.calls, states)
	for _, e := range b.Ends {
		delete(s.calls, callKey(e.Participant, e.CallID))
	}
	for _, ev := range evicted {
		delete(s.calls, callKey(ev.Participant, ev.CallID))
	}
	s.mu.Unlock()
	return evicted, nil
}

func callKey(participant, callID string) string { return participant + "\x00" + callID }

// callState is what the store keeps of a call between two batches: its
// row in calls, and the delta encoder's state after its last sample.
type callState struct {
	seq int64 // calls.seq
	enc *delta.State
}

// writeSamples stores the batch's samples, each a keyframe or a delta
// after the one before (pkg/stats/delta), and leaves in states what the
// encoder keeps of each call.
func (s *Store) writeSamples(ctx context.Context, tx *sql.Tx, b stats.Batch, states map[string]*callState) error {
	find, err := tx.PrepareContext(ctx, `SELECT seq FROM calls WHERE participant = ? AND call_id = ?`)
	if err != nil {
		return err
	}
	defer func() { _ = find.Close() }()
	// Another process may have evicted the call from the ring since the
	// encoder learnt its seq: the row goes in only if the call is still
	// there, and no row means it is gone.
	ins, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO samples (call_seq, n, ts_ms, enc, body)
		SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM calls WHERE seq = ?)`)
	if err != nil {
		return err
	}
	defer func() { _ = ins.Close() }()
	begun := map[string]bool{} // calls this batch starts: anything remembered of the id is stale
	for _, c := range b.Begins {
		begun[callKey(c.Participant, c.CallID)] = true
	}
	gone := map[string]bool{}
	for _, smp := range b.Samples {
		key := callKey(smp.Participant, smp.CallID)
		if gone[key] {
			continue
		}
		st, ok := states[key]
		if !ok && !begun[key] {
			s.mu.Lock()
			st = s.calls[key]
			s.mu.Unlock()
		}
		var seq int64
		var prev *delta.State
		if st != nil {
			seq, prev = st.seq, st.enc
		} else {
			err := find.QueryRowContext(ctx, smp.Participant, smp.CallID).Scan(&seq)
			if errors.Is(err, sql.ErrNoRows) {
				gone[key] = true // evicted meanwhile
				continue
			}
			if err != nil {
				return err
			}
		}
		enc, body, next, err := delta.Encode(prev, smp)
		if err != nil {
			return fmt.Errorf("encoding sample of call %s: %w", smp.CallID, err)
		}
		res, err := ins.ExecContext(ctx, seq, smp.Seq, smp.Time.UnixMilli(), enc, body, seq)
		if err != nil {
			return fmt.Errorf("storing sample of call %s: %w", smp.CallID, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			gone[key] = true
			continue
		}
		states[key] = &callState{seq: seq, enc: next}
	}
	return nil
}

// Damaged counts the sample rows that reads from this handle skipped
// because they could not be decoded (pkg/stats/delta): the samples before
// them and from the next keyframe on were read.
func (s *Store) Damaged() int64 { return s.damaged.Load() }

// trimRing deletes a participant's calls beyond the newest RingSize.
func trimRing(ctx context.Context, tx *sql.Tx, participant string) ([]stats.Evicted, error) {
	// Everything but the newest RingSize, oldest first: the order in which
	// the seed would have dropped them.
	rows, err := tx.QueryContext(ctx, `SELECT seq, call_id FROM calls WHERE participant = ? AND seq NOT IN
		(SELECT seq FROM calls WHERE participant = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
		participant, participant, stats.RingSize)
	if err != nil {
		return nil, err
	}
	var old []int64
	var evicted []stats.Evicted
	for rows.Next() {
		var seq int64
		var id string
		if err := rows.Scan(&seq, &id); err != nil {
			_ = rows.Close()
			return nil, err
		}
		old = append(old, seq)
		evicted = append(evicted, stats.Evicted{Participant: participant, CallID: id})
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	for _, seq := range old {
		if _, err := tx.ExecContext(ctx, `DELETE FROM samples WHERE call_seq = ?`, seq); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM calls WHERE seq = ?`, seq); err != nil {
			return nil, err
		}
	}
	return evicted, nil
}

// Participants lists the participants with stored calls, sorted.
func (s *Store) Participants(ctx context.Context) ([]string, error) {
	return participantsOf(ctx, s.db)
}

func participantsOf(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT participant FROM calls ORDER BY participant`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ResolveParticipant returns participant, or the only participant in the
// store when participant is empty.
func (s *Store) ResolveParticipant(ctx context.Context, participant string) (string, error) {
	ps, err := s.Participants(ctx)
	if err != nil {
		return "", err
	}
	if participant != "" {
		for _, p := range ps {
			if p == participant {
				return p, nil
			}
		}
		return "", fmt.Errorf("%w: %s (stored: %s)", ErrNoParticipant, participant, listOrNone(ps))
	}
	switch len(ps) {
	case 0:
		return "", fmt.Errorf("%w: the store %s is empty", ErrNoParticipant, s.path)
	case 1:
		return ps[0], nil
	default:
		return "", fmt.Errorf("%w (%s); choose one with --participant", ErrAmbiguous, strings.Join(ps, ", "))
	}
}

func listOrNone(ps []string) string {
	if len(ps) == 0 {
		return "none"
	}
	return strings.Join(ps, ", ")
}

// CallInfo is a stored call, oldest first in a ring.
type CallInfo struct {
	stats.CallRecord
	End     stats.EndRecord // zero State while the call runs (or if its process died)
	Samples int
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// snapshot runs fn in a read-only transaction: one consistent view of the
// store however many queries fn makes, even while other processes write.
// It is deferred (not IMMEDIATE), so it takes no write lock.
func (s *Store) snapshot(ctx context.Context, fn func(q querier) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// Calls returns a participant's ring, oldest call first.
func (s *Store) Calls(ctx context.Context, participant string) ([]CallInfo, error) {
	return calls(ctx, s.db, participant)
}

func calls(ctx context.Context, q querier, participant string) ([]CallInfo, error) {
	rows, err := q.QueryContext(ctx, `SELECT c.call_id, c.direction, c.peer, c.started_ms, c.sdk_version,
		c.connected_ms, c.ended_ms, COALESCE(c.end_state, ''), COALESCE(c.status_code, 0), COALESCE(c.reason, ''),
		COALESCE(c.error, ''), (SELECT COUNT(*) FROM samples WHERE call_seq = c.seq)
		FROM calls c WHERE c.participant = ? ORDER BY c.seq`, participant)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []CallInfo
	for rows.Next() {
		var ci CallInfo
		var started int64
		var connected, ended sql.NullInt64
		if err := rows.Scan(&ci.CallID, &ci.Direction, &ci.Peer, &started, &ci.SDKVersion, &connected, &ended,
			&ci.End.State, &ci.End.StatusCode, &ci.End.Reason, &ci.End.Error, &ci.Samples); err != nil {
			return nil, err
		}
		ci.Participant = participant
		ci.StartedAt = time.UnixMilli(started)
		ci.End.CallID, ci.End.Participant = ci.CallID, participant
		if connected.Valid {
			ci.End.ConnectedAt = time.UnixMilli(connected.Int64)
		}
		if ended.Valid {
			ci.End.EndedAt = time.UnixMilli(ended.Int64)
		}
		out = append(out, ci)
	}
	return out, rows.Err()
}

// eachSample streams a call's samples, each decoded whole whatever its
// row's encoding; body is only valid during fn. Rows that cannot be
// decoded are skipped and counted (Damaged).
func (s *Store) eachSample(ctx context.Context, q querier, participant, callID string, fn func(n int, ts time.Time, body []byte) error) error {
	rows, err := q.QueryContext(ctx, `SELECT s.n, s.ts_ms, s.enc, s.body FROM samples s JOIN calls c ON c.seq = s.call_seq
		WHERE c.participant = ? AND c.call_id = ? ORDER BY s.n`, participant, callID)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	dec := delta.NewDecoder()
	var body sql.RawBytes
	for rows.Next() {
		var n, enc int
		var ts int64
		if err := rows.Scan(&n, &ts, &enc, &body); err != nil {
			return err
		}
		sample, err := dec.Decode(n, enc, body)
		if err != nil {
			s.damaged.Add(1)
			continue
		}
		if err := fn(n, time.UnixMilli(ts), sample); err != nil {
			return err
		}
	}
	return rows.Err()
}

// WriteSeedJSON streams a participant's ring in the seed's structure,
// [[callId, [stat, stat, ...]], ...], oldest call first; each sample's
// objects follow one another, SDK entry first. It reads one snapshot, so a
// call evicted by another process meanwhile is either whole or absent. It
// returns the number of calls written.
func (s *Store) WriteSeedJSON(ctx context.Context, w io.Writer, participant string) (int, error) {
	var n int
	err := s.snapshot(ctx, func(q querier) error {
		var err error
		n, err = s.writeSeedJSON(ctx, q, w, participant)
		return err
	})
	return n, err
}

func (s *Store) writeSeedJSON(ctx context.Context, q querier, w io.Writer, participant string) (int, error) {
	cs, err := calls(ctx, q, participant)
	if err != nil {
		return 0, err
	}
	if _, err := io.WriteString(w, "["); err != nil {
		return 0, err
	}
	for i, c := range cs {
		id, _ := json.Marshal(c.CallID)
		sep := ","
		if i == 0 {
			sep = ""
		}
		if _, err := fmt.Fprintf(w, "%s[%s,[", sep, id); err != nil {
			return 0, err
		}
		first := true
		err := s.eachSample(ctx, q, participant, c.CallID, func(_ int, _ time.Time, body []byte) error {
			inner := trimArray(body)
			if len(inner) == 0 {
				return nil
			}
			if !first {
				if _, err := io.WriteString(w, ","); err != nil {
					return err
				}
			}
			first = false
			_, err := w.Write(inner)
			return err
		})
		if err != nil {
			return 0, err
		}
		if _, err := io.WriteString(w, "]]"); err != nil {
			return 0, err
		}
	}
	if _, err := io.WriteString(w, "]"); err != nil {
		return 0, err
	}
	return len(cs), nil
}

// WriteInternals streams a participant's ring as a webrtc-internals dump
// (format.InternalsWriter), oldest call first, from one snapshot: one
// PeerConnection per call, its series built from the call's samples one
// call at a time. It returns the number of calls written and the ids of
// those whose series were longer than format.MaxInternalsPoints and lost
// their oldest values, as Chrome's would.
func (s *Store) WriteInternals(ctx context.Context, w io.Writer, participant string) (int, []string, error) {
	var n int
	var truncated []string
	err := s.snapshot(ctx, func(q querier) error {
		cs, err := calls(ctx, q, participant)
		if err != nil {
			return err
		}
		iw := format.NewInternalsWriter(w)
		if err := iw.Begin(); err != nil {
			return err
		}
		var version, platform string
		for i, c := range cs {
			acc := format.NewInternalsCall()
			towards := map[string]string{"outgoing": "to", "incoming": "from"}[c.Direction]
			acc.AddEvent(c.StartedAt, "callStart", strings.TrimSpace(c.Direction+" call "+towards+" "+c.Peer))
			if err := s.eachSample(ctx, q, participant, c.CallID, func(_ int, _ time.Time, body []byte) error {
				return acc.AddSample(body)
			}); err != nil {
				return err
			}
			if !c.End.ConnectedAt.IsZero() {
				acc.AddEvent(c.End.ConnectedAt, "connectionstatechange", "connected")
			}
			if !c.End.EndedAt.IsZero() {
				acc.AddEvent(c.End.EndedAt, "connectionstatechange", "closed")
				acc.AddEvent(c.End.EndedAt, "callEnd", strings.TrimSpace(fmt.Sprintf("%s %d %s", c.End.State, c.End.StatusCode, c.End.Reason)))
			}
			conn := format.InternalsConnection{
				Key: fmt.Sprintf("%d-%s", i+1, c.CallID),
				URL: "callstat://" + url.PathEscape(participant) + "/" + url.PathEscape(c.CallID) +
					"?direction=" + url.QueryEscape(c.Direction) + "&peer=" + url.QueryEscape(c.Peer),
				// What every callstat PeerConnection is configured with.
				RTCConfiguration: "{ bundlePolicy: max-bundle, rtcpMuxPolicy: require }",
			}
			if err := iw.WritePeerConnection(conn, acc); err != nil {
				return err
			}
			if acc.Truncated() {
				truncated = append(truncated, c.CallID)
			}
			version = c.SDKVersion
			if platform == "" {
				platform = acc.Platform
			}
		}
		ua := "callstat/" + version
		if platform != "" {
			ua += " (" + platform + ")"
		}
		n = len(cs)
		return iw.End(ua, []format.UABrand{{Brand: "callstat", Version: version}})
	})
	return n, truncated, err
}

// trimArray strips the brackets of a JSON array.
func trimArray(body []byte) []byte {
	b := bytes.TrimSpace(body)
	if len(b) >= 2 && b[0] == '[' && b[len(b)-1] == ']' {
		return b[1 : len(b)-1]
	}
	return nil
}

// Summarize returns one summary per call of a participant's ring, oldest
// first, or of every participant's (by participant, then age) when
// participant is "". Each call's samples are streamed from one snapshot.
func (s *Store) Summarize(ctx context.Context, participant string) ([]report.CallSummary, error) {
	var out []report.CallSummary
	err := s.snapshot(ctx, func(q querier) error {
		participants := []string{participant}
		if participant == "" {
			var err error
			if participants, err = participantsOf(ctx, q); err != nil {
				return err
			}
		}
		for _, p := range participants {
			cs, err := calls(ctx, q, p)
			if err != nil {
				return err
			}
			for _, c := range cs {
				sum, err := s.summarize(ctx, q, c)
				if err != nil {
					return err
				}
				out = append(out, sum)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SummarizeCall returns the summary of one call of a participant's ring.
// It wraps ErrNoParticipant when the ring does not hold the call.
func (s *Store) SummarizeCall(ctx context.Context, participant, callID string) (report.CallSummary, error) {
	var out report.CallSummary
	err := s.snapshot(ctx, func(q querier) error {
		cs, err := calls(ctx, q, participant)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.CallID == callID {
				out, err = s.summarize(ctx, q, c)
				return err
			}
		}
		return fmt.Errorf("%w: call %s of %s", ErrNoParticipant, callID, participant)
	})
	return out, err
}

func (s *Store) summarize(ctx context.Context, q querier, c CallInfo) (report.CallSummary, error) {
	var z report.Summarizer
	if err := s.eachSample(ctx, q, c.Participant, c.CallID, func(_ int, _ time.Time, body []byte) error {
		return z.AddJSON(body)
	}); err != nil {
		return report.CallSummary{}, err
	}
	sum := z.Summary()
	sum.SetCall(c.CallRecord, c.End)
	return sum, nil
}
