package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/store"
)

// gen makes a call's samples the way a real call changes them, and in
// every way the delta encoding must survive: counters that grow (and one
// that goes down), floats, objects that appear, vanish, come back and move,
// keys that come and go, values that change type, timestamps that do not
// follow the report's, values too large for an exact increment, -0, null,
// strings JSON escapes, nested values, and samples that cannot be deltas
// (an id twice, no SDK timestamp).
func gen(participant, callID string, n int) stats.Sample {
	at := t0.Add(time.Duration(n) * time.Second)
	ts := float64(at.UnixMicro())/1000 + 0.123
	objs := []stats.Object{
		{"id": "T", "type": "transport", "timestamp": ts, "bytesSent": uint64(1000 * n), "packetsSent": uint32(10 * n),
			"dtlsState": "connected", "selectedCandidatePairId": "CP"},
		{"id": "CP", "type": "candidate-pair", "timestamp": ts, "bytesReceived": uint64(990 * n), "nominated": n%13 != 0,
			"totalRoundTripTime": 0.0011 * float64(n), "lastPacketReceivedTimestamp": float64(at.UnixMilli() - 3)},
		{"id": "C1", "type": "certificate", "timestamp": ts, "fingerprint": "AB:CD", "base64Certificate": "MII<&>" + strings.Repeat("x", 200)},
		{"id": "OUT", "type": "outbound-rtp", "timestamp": ts, "ssrc": uint32(1234), "packetsSent": uint32(50 * n),
			"bytesSent": uint64(4000 * n), "huge": math.MaxUint64 - uint64(n), "big": float64(1<<53 + 2*n),
			"targetBitrate": 32000, "nested": map[string]any{"a": []any{1.0, "<x>", n}}},
	}
	if n%7 == 0 {
		objs[1]["currentRoundTripTime"] = 0.0005 + float64(n)/1e6
	}
	if n%5 == 0 {
		objs[3]["targetBitrate"] = "32 kbit/s" // a number becomes a string
	}
	if n%3 == 0 {
		objs[3]["negZero"] = math.Copysign(0, -1)
	} else {
		objs[3]["negZero"] = 0.0
	}
	if n >= 3 {
		objs = append(objs, stats.Object{"id": "IN", "type": "inbound-rtp", "timestamp": ts, "packetsReceived": uint32(49 * n),
			"packetsLost": 7 - n%4, "jitter": 0.0001 * float64(n%9), "audioLevel": nil, "kind": "audio"})
	}
	if n >= 5 && n != 40 {
		// A stale timestamp: the far end's report did not change.
		objs = append(objs, stats.Object{"id": "RO", "type": "remote-outbound-rtp", "timestamp": float64(t0.UnixMilli() + int64(n/4)*4000),
			"reportsSent": n / 4})
	}
	if n%17 == 0 { // two objects swap places
		objs[1], objs[2] = objs[2], objs[1]
	}
	if n == 50 || n == 51 { // the same id twice: no delta can describe it
		objs = append(objs, stats.Object{"id": "T", "type": "transport", "timestamp": ts})
	}
	s := stats.NewSample(testSDK, callID, participant, n, at, stats.Report{State: "Connected", Objects: objs})
	if n%19 == 0 {
		s.Objects[0]["mos"] = 4.4 - float64(n%3)/10
	}
	if n == 90 {
		delete(s.Objects[0], "timestamp") // nothing to imply timestamps from
	}
	return s
}

func wantBodies(samples []stats.Sample) []string {
	out := make([]string, len(samples))
	for i, s := range samples {
		b, err := json.Marshal(s.Objects)
		if err != nil {
			panic(err)
		}
		out[i] = string(b)
	}
	return out
}

// stored reads a call's samples back, with their numbers.
func stored(t *testing.T, st *store.Store, participant, callID string) (ns []int, bodies []string) {
	t.Helper()
	err := st.EachSample(context.Background(), participant, callID, func(n int, _ time.Time, body []byte) error {
		ns = append(ns, n)
		bodies = append(bodies, string(body))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns, bodies
}

func checkBodies(t *testing.T, got []string, want []string, wantN []int, gotN []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d samples (%v), want %d (%v)", len(got), gotN, len(want), wantN)
	}
	for i := range want {
		if gotN[i] != wantN[i] {
			t.Fatalf("sample %d is number %d, want %d", i, gotN[i], wantN[i])
		}
		if got[i] != want[i] {
			t.Fatalf("sample %d differs:\n got %s\nwant %s", wantN[i], got[i], want[i])
		}
	}
}

func encCounts(t *testing.T, path string) map[int]int {
	t.Helper()
	rows, err := rawDB(t, path).Query(`SELECT enc, COUNT(*) FROM samples GROUP BY enc`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	out := map[int]int{}
	for rows.Next() {
		var enc, n int
		if err := rows.Scan(&enc, &n); err != nil {
			t.Fatal(err)
		}
		out[enc] = n
	}
	return out
}

// Whatever the batches, what is read back is byte for byte the JSON of the
// samples written, keyframes and deltas alike.
func TestDeltaRoundTrip(t *testing.T) {
	for _, batch := range []int{1, 7, 200} {
		t.Run(fmt.Sprintf("batches of %d", batch), func(t *testing.T) {
			st, path := newStore(t)
			write(t, st, stats.Batch{Begins: []stats.CallRecord{begin("bob", "c1")}})
			var samples []stats.Sample
			var ns []int
			for n := range 150 {
				samples = append(samples, gen("bob", "c1", n))
				ns = append(ns, n)
			}
			for i := 0; i < len(samples); i += batch {
				write(t, st, stats.Batch{Samples: samples[i:min(i+batch, len(samples))]})
			}
			gotN, got := stored(t, st, "bob", "c1")
			checkBodies(t, got, wantBodies(samples), ns, gotN)
			counts := encCounts(t, path)
			// Keyframes at 0, 60 and 120; full rows where no delta can say
			// it (the same id twice, no timestamp) and right after.
			if counts[1] < 3 || counts[2] < 130 || counts[0] != 0 {
				t.Errorf("rows by encoding %v, want keyframes (1) every 60 samples and deltas (2) otherwise", counts)
			}
			if st.Damaged() != 0 {
				t.Errorf("%d rows damaged", st.Damaged())
			}
			// And the seed's file is the same as from full rows.
			var buf bytes.Buffer
			if _, err := st.WriteSeedJSON(context.Background(), &buf, "bob"); err != nil {
				t.Fatal(err)
			}
			want := `[["c1",[` + strings.Join(trimEach(wantBodies(samples)), ",") + `]]]`
			if buf.String() != want {
				t.Errorf("seed file differs from the full samples'")
			}
		})
	}
}

func trimEach(bodies []string) []string {
	out := make([]string, len(bodies))
	for i, b := range bodies {
		out[i] = b[1 : len(b)-1]
	}
	return out
}

// A damaged row loses itself and the deltas up to the next full row, not
// the rest; a missing row likewise.
func TestDeltaDamagedRow(t *testing.T) {
	st, path := newStore(t)
	var samples []stats.Sample
	b := stats.Batch{Begins: []stats.CallRecord{begin("bob", "c1")}}
	for n := range 140 {
		samples = append(samples, gen("bob", "c1", n))
	}
	b.Samples = samples
	write(t, st, b)
	db := rawDB(t, path)
	full := map[int]bool{}
	rows, err := db.Query(`SELECT n FROM samples WHERE enc != 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		full[n] = true
	}
	_ = rows.Close()
	// gen's samples 50, 51 (an id twice) and 90 (no timestamp) are full
	// rows, as are the keyframes: the first sample and 60 after a full row.
	for _, n := range []int{0, 50, 51, 90} {
		if !full[n] {
			t.Fatalf("sample %d is a delta; full rows: %v", n, full)
		}
	}
	if _, err := db.Exec(`UPDATE samples SET body = X'DEADBEEF' WHERE n = 70 AND enc = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM samples WHERE n = 125 AND enc = 2`); err != nil {
		t.Fatal(err)
	}
	var want []stats.Sample
	var wantN []int
	lost := false
	for n, s := range samples {
		if full[n] {
			lost = false
		}
		if n == 70 || n == 125 {
			lost = true
		}
		if lost {
			continue
		}
		want = append(want, s)
		wantN = append(wantN, n)
	}
	gotN, got := stored(t, st, "bob", "c1")
	checkBodies(t, got, wantBodies(want), wantN, gotN)
	if d := st.Damaged(); int(d) != len(samples)-1-len(want) {
		t.Errorf("Damaged() = %d, want %d (every row not read but the missing one)", d, len(samples)-1-len(want))
	}
	if len(want) > len(samples)-20 {
		t.Errorf("only %d of %d samples lost: the damage was not where the test put it", len(samples)-len(want), len(samples))
	}
}

// A batch the store refuses leaves the encoder where it was: the retry
// writes deltas that read back right.
func TestDeltaRetryAfterFailedWrite(t *testing.T) {
	st, path := newStore(t)
	var samples []stats.Sample
	for n := range 12 {
		samples = append(samples, gen("bob", "c1", n))
	}
	write(t, st, stats.Batch{Begins: []stats.CallRecord{begin("bob", "c1")}, Samples: samples[:4]})
	db := rawDB(t, path)
	if _, err := db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON samples WHEN NEW.n = 6 BEGIN SELECT RAISE(ABORT, 'disk full'); END`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(context.Background(), stats.Batch{Samples: samples[4:8]}); err == nil {
		t.Fatal("write succeeded past the trigger")
	}
	if _, err := db.Exec(`DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	write(t, st, stats.Batch{Samples: samples[4:8]})
	write(t, st, stats.Batch{Samples: samples[8:]})
	gotN, got := stored(t, st, "bob", "c1")
	checkBodies(t, got, wantBodies(samples), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, gotN)
}

// Calls evicted while they run lose their later samples (as before); the
// others, interleaved with them in the same batches, read back whole.
func TestDeltaWithEvictions(t *testing.T) {
	st, _ := newStore(t)
	ids := []string{"a", "b", "c", "d", "e", "f", "g"}
	all := map[string][]stats.Sample{}
	for round := range 3 {
		var b stats.Batch
		if round < len(ids) {
			// Two new calls a round: the oldest go.
			for _, id := range ids[min(2*round, len(ids)):min(2*round+2, len(ids))] {
				b.Begins = append(b.Begins, begin("bob", id))
			}
		}
		for _, id := range ids[:min(2*round+2, len(ids))] {
			for range 30 {
				n := len(all[id])
				s := gen("bob", id, n)
				all[id] = append(all[id], s)
				b.Samples = append(b.Samples, s)
			}
		}
		write(t, st, b)
	}
	kept := callIDs(t, st, "bob")
	if strings.Join(kept, "") != "bcdef" {
		t.Fatalf("ring holds %v", kept)
	}
	for _, id := range kept {
		gotN, got := stored(t, st, "bob", id)
		if len(got) == 0 {
			t.Fatalf("call %s: nothing stored", id)
		}
		// Each call's samples from the round it started in.
		want := all[id][len(all[id])-len(got):]
		var wantN []int
		for _, s := range want {
			wantN = append(wantN, s.Seq)
		}
		checkBodies(t, got, wantBodies(want), wantN, gotN)
	}
}

// A store of schema v2 (every row a JSON array) is migrated: its rows read
// back as stored, and new calls are stored as deltas beside them.
func TestDeltaMigrationFromV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	db := rawDB(t, path)
	old := []string{
		`[{"id":"callstat-sdk-info_x","timestamp":1700000001000,"type":"callstat_sdk_info"},{"id":"T","packetsSent":10,"timestamp":1700000001000,"type":"transport"}]`,
		`[{"id":"callstat-sdk-info_x","timestamp":1700000002000,"type":"callstat_sdk_info"},{"id":"T","packetsSent":60,"timestamp":1700000002000,"type":"transport"}]`,
		`not JSON at all`,
	}
	for _, q := range append(schemaV1(), // and v2's logs
		`CREATE TABLE logs (seq INTEGER PRIMARY KEY AUTOINCREMENT, participant TEXT NOT NULL, ts_ms INTEGER NOT NULL, entry BLOB NOT NULL)`,
		`CREATE INDEX logs_by_participant ON logs (participant, seq)`,
		`PRAGMA user_version = 2`,
	) {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for n, body := range old {
		if _, err := db.Exec(`INSERT INTO samples VALUES (1, ?, ?, ?)`, n, 1700000001000+1000*n, body); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()

	st := openStore(t, path)
	var samples []stats.Sample
	for n := range 70 {
		samples = append(samples, gen("bob", "new-call", n))
	}
	write(t, st, stats.Batch{Begins: []stats.CallRecord{begin("bob", "new-call")}, Samples: samples})
	gotN, got := stored(t, st, "bob", "old-call")
	checkBodies(t, got, old, []int{0, 1, 2}, gotN)
	gotN, got = stored(t, st, "bob", "new-call")
	var wantN []int
	for n := range 70 {
		wantN = append(wantN, n)
	}
	checkBodies(t, got, wantBodies(samples), wantN, gotN)
	var buf bytes.Buffer
	if _, err := st.WriteSeedJSON(context.Background(), &buf, "bob"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), `[["old-call",[`+strings.Join(trimEach(old[:2]), ",")) {
		t.Errorf("old call's samples not dumped as stored: %.300s", buf.String())
	}
	if v := queryInt(t, rawDB(t, path), `PRAGMA user_version`); v != store.SchemaVersion() {
		t.Errorf("user_version = %d, want %d", v, store.SchemaVersion())
	}
}
