package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/format"
	"github.com/callstat/callstat/pkg/stats/store"
)

var testSDK = stats.SDKInfo{SDK: "callstat", Version: "1.2.3", InstanceID: "5f1c2a9e-0000-4000-8000-000000000001", Platform: "test"}

var t0 = time.UnixMilli(1_700_000_000_000)

// statusOK is the end status of a normal hang-up (SIP's 200, as the SDK reports it).
const statusOK = 200

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "callstat.db")
	return openStore(t, path), path
}

// rawDB opens the file directly, to look under the store.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func queryInt(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func begin(participant, callID string) stats.CallRecord {
	return stats.CallRecord{CallID: callID, Participant: participant, Direction: "outgoing", Peer: "peer-of-" + participant,
		StartedAt: t0, SDKVersion: "1.2.3"}
}

// sample n of a call: the SDK entry, then one inbound-rtp object that names
// its participant and sample number.
func sample(participant, callID string, n int) stats.Sample {
	at := t0.Add(time.Duration(n+1) * time.Second)
	return stats.NewSample(testSDK, callID, participant, n, at, stats.Report{State: "Connected", Objects: []stats.Object{
		{"id": "IT", "type": "inbound-rtp", "timestamp": float64(at.UnixMilli()), "packetsReceived": float64(50 * (n + 1)),
			"packetsLost": 0.0, "jitter": 0.002, "participant": participant, "n": float64(n)},
	}})
}

func write(t *testing.T, st *store.Store, b stats.Batch) []stats.Evicted {
	t.Helper()
	ev, err := st.Write(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// addCall stores a whole call: its record, n samples and its end.
func addCall(t *testing.T, st *store.Store, participant, callID string, n int) []stats.Evicted {
	t.Helper()
	b := stats.Batch{Begins: []stats.CallRecord{begin(participant, callID)}}
	for i := range n {
		b.Samples = append(b.Samples, sample(participant, callID, i))
	}
	b.Ends = []stats.EndRecord{{CallID: callID, Participant: participant, State: "Ended", EndedAt: t0.Add(time.Minute)}}
	return write(t, st, b)
}

func callIDs(t *testing.T, st *store.Store, participant string) []string {
	t.Helper()
	calls, err := st.Calls(context.Background(), participant)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, c := range calls {
		ids = append(ids, c.CallID)
	}
	return ids
}

func seedJSON(t *testing.T, st *store.Store, participant string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := st.WriteSeedJSON(context.Background(), &buf, participant); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestOpenCreatesSchemaAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "callstat", "callstat.db") // directories made on demand
	st := openStore(t, path)
	if st.Path() != path {
		t.Errorf("Path() = %q, want %q", st.Path(), path)
	}
	addCall(t, st, "bob", "c1", 2)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	db := rawDB(t, path)
	for _, table := range []string{"calls", "samples", "logs"} {
		if n := queryInt(t, db, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table); n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	if v := queryInt(t, db, `PRAGMA user_version`); v != 3 || v != store.SchemaVersion() {
		t.Errorf("user_version = %d, want 3", v)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal (several processes share the file)", mode, err)
	}
	if n := queryInt(t, db, `SELECT COUNT(*) FROM samples`); n != 2 {
		t.Errorf("%d sample rows, want one per sample (2)", n)
	}

	again := openStore(t, path) // the schema is there: no migration, data kept
	if ids := callIDs(t, again, "bob"); !reflect.DeepEqual(ids, []string{"c1"}) {
		t.Errorf("after reopening: calls %v", ids)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 512), 0o644); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	openStore(t, newer).Close()
	if _, err := rawDB(t, newer).Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, wantMsg string
	}{
		{"empty path", "", "empty path"},
		{"not a database", garbage, ""},
		{"a directory", dir, ""},
		{"schema from a newer callstat", newer, "upgrade callstat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := store.Open(context.Background(), tt.path)
			if err == nil {
				_ = st.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, store.ErrOpen) {
				t.Errorf("Open = %v, want ErrOpen", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Open = %v, want it to say %q", err, tt.wantMsg)
			}
		})
	}
}

// '?', '#' and '%' mean something in an SQLite URI; the store must still
// open the file it was given.
func TestOpenPathWithURICharacters(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "a#b?c%41d e")
	path := filepath.Join(dir, "x?y#z%25.db")
	st := openStore(t, path)
	addCall(t, st, "bob", "c1", 1)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the store is not at %s: %v", path, err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 || entries[0].Name() != "a#b?c%41d e" {
		t.Errorf("%s holds %v", parent, entries)
	}
	if ids := callIDs(t, openStore(t, path), "bob"); len(ids) != 1 {
		t.Errorf("reopened store holds %v", ids)
	}
}

func TestRingKeepsNewestFive(t *testing.T) {
	st, path := newStore(t)
	for i := range 7 {
		id := fmt.Sprint("c", i)
		ev := addCall(t, st, "bob", id, 2)
		var want []stats.Evicted
		if i >= stats.RingSize {
			want = []stats.Evicted{{Participant: "bob", CallID: fmt.Sprint("c", i-stats.RingSize)}}
		}
		if !reflect.DeepEqual(ev, want) {
			t.Errorf("writing %s evicted %v, want %v", id, ev, want)
		}
	}
	if ids := callIDs(t, st, "bob"); !reflect.DeepEqual(ids, []string{"c2", "c3", "c4", "c5", "c6"}) {
		t.Errorf("ring = %v, want the newest five, oldest first", ids)
	}
	calls, err := st.Calls(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if c.Samples != 2 {
			t.Errorf("%s has %d samples, want 2", c.CallID, c.Samples)
		}
	}
	// The evicted calls' samples are gone with them.
	if n := queryInt(t, rawDB(t, path), `SELECT COUNT(*) FROM samples`); n != 10 {
		t.Errorf("%d sample rows, want 10", n)
	}
	for _, id := range []string{"c0", "c1"} {
		err := st.EachSample(context.Background(), "bob", id, func(int, time.Time, []byte) error {
			t.Errorf("evicted call %s still has samples", id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestRingEvictsOldestFirstInOneBatch(t *testing.T) {
	st, _ := newStore(t)
	var b stats.Batch
	for i := range 7 {
		b.Begins = append(b.Begins, begin("bob", fmt.Sprint("c", i)))
	}
	ev := write(t, st, b)
	want := []stats.Evicted{{Participant: "bob", CallID: "c0"}, {Participant: "bob", CallID: "c1"}}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("evicted %v, want %v", ev, want)
	}
}

func TestRingsArePerParticipant(t *testing.T) {
	st, _ := newStore(t)
	for i := range stats.RingSize {
		addCall(t, st, "alice", fmt.Sprint("a", i), 1)
		addCall(t, st, "bob", fmt.Sprint("b", i), 1)
	}
	ev := addCall(t, st, "bob", "b5", 1)
	if want := []stats.Evicted{{Participant: "bob", CallID: "b0"}}; !reflect.DeepEqual(ev, want) {
		t.Errorf("evicted %v, want %v", ev, want)
	}
	if ids := callIDs(t, st, "alice"); !reflect.DeepEqual(ids, []string{"a0", "a1", "a2", "a3", "a4"}) {
		t.Errorf("alice's ring = %v; bob's sixth call must not touch it", ids)
	}
	if ids := callIDs(t, st, "bob"); !reflect.DeepEqual(ids, []string{"b1", "b2", "b3", "b4", "b5"}) {
		t.Errorf("bob's ring = %v", ids)
	}
	ps, err := st.Participants(context.Background())
	if err != nil || !reflect.DeepEqual(ps, []string{"alice", "bob"}) {
		t.Errorf("Participants() = %v, %v", ps, err)
	}
}

// Caller and callee of one call share a store file and the call id.
func TestSameCallIDUnderTwoParticipants(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	write(t, st, stats.Batch{
		Begins:  []stats.CallRecord{begin("bob", "shared"), begin("alice", "shared")},
		Samples: []stats.Sample{sample("bob", "shared", 0), sample("alice", "shared", 0), sample("bob", "shared", 1), sample("bob", "shared", 2)},
	})
	write(t, st, stats.Batch{Ends: []stats.EndRecord{{CallID: "shared", Participant: "bob", State: "Ended", StatusCode: statusOK, Reason: "bye"}}})

	for _, tt := range []struct {
		participant string
		samples     int
		endState    string
	}{
		{"bob", 3, "Ended"},
		{"alice", 1, ""}, // still running: bob's end is not hers
	} {
		calls, err := st.Calls(ctx, tt.participant)
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || calls[0].Samples != tt.samples || calls[0].End.State != tt.endState {
			t.Errorf("%s: calls %+v; want 1 call, %d samples, end %q", tt.participant, calls, tt.samples, tt.endState)
		}
		err = st.EachSample(ctx, tt.participant, "shared", func(_ int, _ time.Time, body []byte) error {
			if !bytes.Contains(body, []byte(`"participant":"`+tt.participant+`"`)) {
				t.Errorf("%s got a sample that is not theirs: %s", tt.participant, body)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Evicting bob's copy leaves alice's.
	for i := range stats.RingSize {
		addCall(t, st, "bob", fmt.Sprint("later", i), 0)
	}
	if ids := callIDs(t, st, "alice"); !reflect.DeepEqual(ids, []string{"shared"}) {
		t.Errorf("alice's ring = %v after bob's copy was evicted", ids)
	}
}

// A sample taken just before its call was evicted (or of a call that was
// never recorded) is dropped quietly: it belongs to no ring.
func TestSamplesOfEvictedCallsAreSkipped(t *testing.T) {
	st, path := newStore(t)
	for i := range stats.RingSize + 1 {
		addCall(t, st, "bob", fmt.Sprint("c", i), 1)
	}
	ev := write(t, st, stats.Batch{
		Samples: []stats.Sample{sample("bob", "c0", 1), sample("bob", "c5", 1), sample("bob", "never-begun", 0), sample("bob", "c0", 2)},
		Ends:    []stats.EndRecord{{CallID: "c0", Participant: "bob", State: "Ended"}},
	})
	if len(ev) != 0 {
		t.Errorf("evicted %v", ev)
	}
	db := rawDB(t, path)
	if n := queryInt(t, db, `SELECT COUNT(*) FROM samples WHERE call_seq NOT IN (SELECT seq FROM calls)`); n != 0 {
		t.Errorf("%d orphan sample rows", n)
	}
	if ids := callIDs(t, st, "bob"); !reflect.DeepEqual(ids, []string{"c1", "c2", "c3", "c4", "c5"}) {
		t.Errorf("ring = %v; an end record must not bring an evicted call back", ids)
	}
	calls, _ := st.Calls(context.Background(), "bob")
	if calls[4].Samples != 2 {
		t.Errorf("c5 has %d samples, want 2", calls[4].Samples)
	}
}

// The sample number orders samples, whatever order batches arrive in; a
// sample stored twice (a retried batch) is kept once.
func TestSamplesOrderedBySeq(t *testing.T) {
	st, _ := newStore(t)
	write(t, st, stats.Batch{Begins: []stats.CallRecord{begin("bob", "c")}, Samples: []stats.Sample{sample("bob", "c", 2)}})
	write(t, st, stats.Batch{Samples: []stats.Sample{sample("bob", "c", 0), sample("bob", "c", 1), sample("bob", "c", 2)}})
	var ns []int
	err := st.EachSample(context.Background(), "bob", "c", func(n int, ts time.Time, _ []byte) error {
		ns = append(ns, n)
		if want := t0.Add(time.Duration(n+1) * time.Second); !ts.Equal(want) {
			t.Errorf("sample %d time %v, want %v", n, ts, want)
		}
		return nil
	})
	if err != nil || !reflect.DeepEqual(ns, []int{0, 1, 2}) {
		t.Errorf("EachSample order = %v, %v", ns, err)
	}
	errStop := errors.New("stop")
	if err := st.EachSample(context.Background(), "bob", "c", func(int, time.Time, []byte) error { return errStop }); !errors.Is(err, errStop) {
		t.Errorf("EachSample did not return the callback's error: %v", err)
	}
}

func TestWriteSeedJSON(t *testing.T) {
	st, _ := newStore(t)
	addCall(t, st, "bob", "first", 3)
	addCall(t, st, "bob", "no-samples", 0)
	// Samples of the third call arrive out of order.
	write(t, st, stats.Batch{Begins: []stats.CallRecord{begin("bob", "third")}, Samples: []stats.Sample{sample("bob", "third", 1)}})
	write(t, st, stats.Batch{Samples: []stats.Sample{sample("bob", "third", 0)}})
	addCall(t, st, "alice", "hers", 1) // another ring in the same file

	var buf bytes.Buffer
	n, err := st.WriteSeedJSON(context.Background(), &buf, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("WriteSeedJSON wrote %d calls, want 3", n)
	}
	out := buf.Bytes()

	// The seed's shape, exactly: [[string, [object, ...]], ...].
	var raw [][]json.RawMessage
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("not [[...], ...]: %v\n%s", err, out)
	}
	for i, pair := range raw {
		var id string
		var objs []map[string]any
		if len(pair) != 2 || json.Unmarshal(pair[0], &id) != nil || json.Unmarshal(pair[1], &objs) != nil {
			t.Fatalf("call %d is not [callId, [object...]]: %q", i, pair)
		}
	}
	if !bytes.Contains(out, []byte(`["no-samples",[]]`)) {
		t.Errorf("a call without samples is not [id, []]: %s", out)
	}

	// Equal to the structure built in memory: oldest call first, the
	// samples' objects one after another in sample order.
	want := []format.FileCall{
		{CallID: "first", Objects: concat(sample("bob", "first", 0), sample("bob", "first", 1), sample("bob", "first", 2))},
		{CallID: "no-samples", Objects: []stats.Object{}},
		{CallID: "third", Objects: concat(sample("bob", "third", 0), sample("bob", "third", 1))},
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var gotV, wantV any
	_ = json.Unmarshal(out, &gotV)
	_ = json.Unmarshal(wantJSON, &wantV)
	if !reflect.DeepEqual(gotV, wantV) {
		t.Errorf("file:\n got %s\nwant %s", out, wantJSON)
	}

	// A consumer splits each call back into samples at the SDK entries.
	calls, err := format.ReadFile(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		for i, s := range c.Samples() {
			if s[0].Type() != "callstat_sdk_info" || s[0]["callId"] != c.CallID {
				t.Errorf("%s sample %d starts with %v", c.CallID, i, s[0])
			}
			if s[1]["n"] != float64(i) {
				t.Errorf("%s sample %d is sample %v", c.CallID, i, s[1]["n"])
			}
		}
	}
}

func concat(samples ...stats.Sample) []stats.Object {
	var out []stats.Object
	for _, s := range samples {
		out = append(out, s.Objects...)
	}
	// Through JSON, as the file holds them.
	data, _ := json.Marshal(out)
	var back []stats.Object
	_ = json.Unmarshal(data, &back)
	return back
}

func TestWriteSeedJSONEmpty(t *testing.T) {
	st, _ := newStore(t)
	for _, p := range []string{"", "nobody"} {
		var buf bytes.Buffer
		n, err := st.WriteSeedJSON(context.Background(), &buf, p)
		if err != nil || n != 0 || buf.String() != "[]" {
			t.Errorf("WriteSeedJSON(%q) on an empty store = %q, %d, %v; want []", p, buf.String(), n, err)
		}
	}
	// A call stored with an empty sample (no objects at all) is still valid JSON.
	write(t, st, stats.Batch{Begins: []stats.CallRecord{begin("bob", "c")}, Samples: []stats.Sample{{CallID: "c", Participant: "bob", Time: t0}}})
	if got := string(seedJSON(t, st, "bob")); got != `[["c",[]]]` {
		t.Errorf("WriteSeedJSON = %s, want [[\"c\",[]]]", got)
	}
}

var errWriter = errors.New("pipe closed")

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		return 0, errWriter
	}
	return len(p), nil
}

func TestWriteSeedJSONWriterError(t *testing.T) {
	st, _ := newStore(t)
	addCall(t, st, "bob", "c", 3)
	for _, after := range []int{0, 10, 300} {
		if _, err := st.WriteSeedJSON(context.Background(), &failingWriter{after: after}, "bob"); !errors.Is(err, errWriter) {
			t.Errorf("after %d bytes: err = %v, want the writer's", after, err)
		}
	}
}

func TestResolveParticipant(t *testing.T) {
	empty, _ := newStore(t)
	one, _ := newStore(t)
	addCall(t, one, "bob", "c", 0)
	several, _ := newStore(t)
	addCall(t, several, "bob", "c", 0)
	addCall(t, several, "alice", "c", 0)

	tests := []struct {
		name    string
		st      *store.Store
		arg     string
		want    string
		wantErr error
	}{
		{"empty store", empty, "", "", store.ErrNoParticipant},
		{"empty store, named", empty, "bob", "", store.ErrNoParticipant},
		{"the only participant", one, "", "bob", nil},
		{"named", one, "bob", "bob", nil},
		{"unknown", one, "carol", "", store.ErrNoParticipant},
		{"several", several, "", "", store.ErrAmbiguous},
		{"several, named", several, "alice", "alice", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.st.ResolveParticipant(context.Background(), tt.arg)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("ResolveParticipant(%q) = %q, %v; want %q, %v", tt.arg, got, err, tt.want, tt.wantErr)
			}
		})
	}
	_, err := several.ResolveParticipant(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "alice, bob") {
		t.Errorf("ambiguity error %v does not list the participants", err)
	}
}

func TestSummarizeAndCallInfo(t *testing.T) {
	st, _ := newStore(t)
	connected, ended := t0.Add(2*time.Second), t0.Add(time.Minute)
	obj := func(received, lost, jitter, rtt float64) stats.Report {
		return stats.Report{State: "Connected", Objects: []stats.Object{
			{"id": "CP", "type": "candidate-pair", "nominated": true, "currentRoundTripTime": 0.001},
			{"id": "OT", "type": "outbound-rtp", "packetsSent": received + lost},
			{"id": "RI", "type": "remote-inbound-rtp", "roundTripTime": rtt},
			{"id": "IT", "type": "inbound-rtp", "packetsReceived": received, "packetsLost": lost, "jitter": jitter},
		}}
	}
	write(t, st, stats.Batch{
		Begins: []stats.CallRecord{begin("bob", "c1"), begin("bob", "c2")},
		Samples: []stats.Sample{
			stats.NewSample(testSDK, "c1", "bob", 0, t0, obj(48, 2, 0.001, 0.020)),
			stats.NewSample(testSDK, "c1", "bob", 1, t0, obj(96, 4, 0.003, 0.030)),
		},
		Ends: []stats.EndRecord{{CallID: "c1", Participant: "bob", ConnectedAt: connected, EndedAt: ended,
			State: "Ended", StatusCode: statusOK, Reason: "bye", Error: "boom"}},
	})
	sums, err := st.Summarize(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 {
		t.Fatalf("Summarize = %d summaries, want 2", len(sums))
	}
	s := sums[0]
	if s.CallID != "c1" || s.Participant != "bob" || s.Samples != 2 || s.PacketsSent != 100 || s.PacketsReceived != 96 ||
		s.PacketsLost != 4 || *s.LossPercent != 4 || *s.JitterP95Ms != 3 || *s.RTTP95Ms != 30 || *s.RTTP50Ms != 20 ||
		*s.SetupMs != 2000 || *s.DurationMs != 58000 || s.EndState != "Ended" || s.Reason != "bye" || s.Error != "boom" {
		t.Errorf("summary = %+v", s)
	}
	if s2 := sums[1]; s2.CallID != "c2" || s2.Samples != 0 || s2.LossPercent != nil || s2.RTTP50Ms != nil || s2.EndState != "" {
		t.Errorf("summary of a call without samples = %+v", s2)
	}
	one, err := st.SummarizeCall(context.Background(), "bob", "c1")
	if err != nil || one.CallID != "c1" || one.Samples != 2 {
		t.Errorf("SummarizeCall = %+v, %v", one, err)
	}
	if _, err := st.SummarizeCall(context.Background(), "bob", "nope"); !errors.Is(err, store.ErrNoParticipant) {
		t.Errorf("SummarizeCall of an unknown call: %v", err)
	}
	all, err := st.Summarize(context.Background(), "")
	if err != nil || len(all) != 2 {
		t.Errorf("Summarize of every participant = %d rows, %v", len(all), err)
	}
	calls, err := st.Calls(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	c := calls[0]
	if c.CallID != "c1" || c.Participant != "bob" || c.Direction != "outgoing" || c.Peer != "peer-of-bob" ||
		!c.StartedAt.Equal(t0) || c.SDKVersion != "1.2.3" || c.Samples != 2 {
		t.Errorf("call record = %+v", c.CallRecord)
	}
	e := c.End
	if e.CallID != "c1" || e.Participant != "bob" || !e.ConnectedAt.Equal(connected) || !e.EndedAt.Equal(ended) ||
		e.State != "Ended" || e.StatusCode != statusOK || e.Reason != "bye" || e.Error != "boom" {
		t.Errorf("end record = %+v", e)
	}
	if e2 := calls[1].End; e2.State != "" || !e2.EndedAt.IsZero() || !e2.ConnectedAt.IsZero() {
		t.Errorf("a running call has end %+v", e2)
	}
}

func TestIntegrityCheck(t *testing.T) {
	st, _ := newStore(t)
	for i := range 8 {
		addCall(t, st, "bob", fmt.Sprint("c", i), 3)
	}
	if err := st.IntegrityCheck(context.Background()); err != nil {
		t.Errorf("IntegrityCheck() = %v", err)
	}
}

// hookWriter runs hook before its first write.
type hookWriter struct {
	bytes.Buffer
	hook func()
}

func (w *hookWriter) Write(p []byte) (int, error) {
	if w.hook != nil {
		w.hook()
		w.hook = nil
	}
	return w.Buffer.Write(p)
}

// A file is written from one snapshot: a call evicted by another process
// while the file is being written is still there whole, not as [id, []].
func TestWriteSeedJSONReadsOneSnapshot(t *testing.T) {
	st, path := newStore(t)
	for i := range stats.RingSize {
		addCall(t, st, "bob", fmt.Sprint("c", i), 2)
	}
	other := openStore(t, path)
	w := &hookWriter{hook: func() {
		if ev := addCall(t, other, "bob", "c5", 2); len(ev) != 1 || ev[0].CallID != "c0" {
			t.Errorf("the concurrent write evicted %v, want c0", ev)
		}
	}}
	if _, err := st.WriteSeedJSON(context.Background(), w, "bob"); err != nil {
		t.Fatal(err)
	}
	calls, err := format.ReadFile(&w.Buffer)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range calls {
		got = append(got, fmt.Sprintf("%s:%d", c.CallID, len(c.Samples())))
	}
	if want := []string{"c0:2", "c1:2", "c2:2", "c3:2", "c4:2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("file holds %v, want %v", got, want)
	}
	// The next file sees the eviction.
	if ids := callIDs(t, st, "bob"); !reflect.DeepEqual(ids, []string{"c1", "c2", "c3", "c4", "c5"}) {
		t.Errorf("ring after the write = %v", ids)
	}
}

// The webrtc-internals dump holds exactly the values of the seed file,
// transposed into series.
func TestWriteInternalsRoundTrip(t *testing.T) {
	st, _ := newStore(t)
	report := func(i int) stats.Report {
		ts := float64(t0.UnixMilli() + int64(1000*i))
		objs := []stats.Object{
			{"id": "T", "type": "transport", "timestamp": ts, "bytesSent": float64(1000 * i), "dtlsState": "connected"},
			{"id": "IN", "type": "inbound-rtp", "timestamp": ts, "packetsReceived": float64(50 * i), "jitter": 0.001 * float64(i)},
		}
		if i > 1 {
			objs = append(objs, stats.Object{"id": "RI", "type": "remote-inbound-rtp", "timestamp": ts, "roundTripTime": 0.02})
		}
		return stats.Report{State: "Connected", Objects: objs}
	}
	var samples []stats.Sample
	for _, c := range []string{"c1", "c2"} {
		for i := 0; i < 4; i++ {
			samples = append(samples, stats.NewSample(testSDK, c, "bob", i, t0.Add(time.Duration(i)*time.Second), report(i)))
		}
	}
	write(t, st, stats.Batch{
		Begins:  []stats.CallRecord{begin("bob", "c1"), begin("bob", "c2")},
		Samples: samples,
		Ends: []stats.EndRecord{{CallID: "c1", Participant: "bob", ConnectedAt: t0.Add(time.Second), EndedAt: t0.Add(4 * time.Second),
			State: "Ended", StatusCode: statusOK, Reason: "bye"}},
	})
	var seed, dump bytes.Buffer
	if _, err := st.WriteSeedJSON(context.Background(), &seed, "bob"); err != nil {
		t.Fatal(err)
	}
	n, truncated, err := st.WriteInternals(context.Background(), &dump, "bob")
	if err != nil || n != 2 || len(truncated) != 0 {
		t.Fatalf("WriteInternals = %d, %v, %v", n, truncated, err)
	}
	calls, err := format.ReadFile(&seed)
	if err != nil {
		t.Fatal(err)
	}
	d := readInternals(t, &dump)
	if d.UserAgent != "callstat/1.2.3 (test)" || d.UserAgentData[0].Version != "1.2.3" {
		t.Errorf("UserAgent %q %v", d.UserAgent, d.UserAgentData)
	}
	for i, c := range calls {
		pc, ok := d.PeerConnections[fmt.Sprintf("%d-%s", i+1, c.CallID)]
		if !ok {
			t.Fatalf("no PeerConnection for call %s", c.CallID)
		}
		want := map[string][]string{}
		for _, o := range c.Objects {
			for k, v := range o {
				if k != "id" && k != "type" {
					raw, _ := json.Marshal(v)
					want[o.ID()+"-"+k] = append(want[o.ID()+"-"+k], string(raw))
				}
			}
		}
		if len(pc.Stats) != len(want) {
			t.Errorf("call %s: %d series, want %d", c.CallID, len(pc.Stats), len(want))
		}
		for key, vs := range want {
			got, err := pc.Stats[key].Decode()
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			var gotS []string
			for _, v := range got {
				var x any
				_ = json.Unmarshal(v, &x)
				b, _ := json.Marshal(x)
				gotS = append(gotS, string(b))
			}
			if fmt.Sprint(gotS) != fmt.Sprint(vs) {
				t.Errorf("call %s %s = %v, want %v", c.CallID, key, gotS, vs)
			}
		}
		if c.CallID == "c1" {
			var types []string
			for _, e := range pc.UpdateLog {
				types = append(types, e.Type)
			}
			if got := strings.Join(types, ","); got != "callStart,callStateChange,connectionstatechange,connectionstatechange,callEnd" {
				t.Errorf("updateLog types %s", got)
			}
		}
	}
}

// readInternals decodes a webrtc-internals dump, as importers read it:
// they reject one without PeerConnections or UserAgentData.
func readInternals(t *testing.T, r io.Reader) *format.InternalsDump {
	t.Helper()
	var d format.InternalsDump
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		t.Fatalf("not a webrtc-internals dump: %v", err)
	}
	if d.PeerConnections == nil || d.UserAgentData == nil {
		t.Fatalf("not a webrtc-internals dump: PeerConnections or UserAgentData missing")
	}
	return &d
}
