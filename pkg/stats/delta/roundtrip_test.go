package delta_test

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/delta"
)

var t0 = time.UnixMilli(1_700_000_000_000)

// sample is sample n of a call whose counters grow, whose objects come and
// go, and in which one sample holds an id twice (no delta can say it).
func sample(n int) stats.Sample {
	at := t0.Add(time.Duration(n) * time.Second)
	ts := float64(at.UnixMicro())/1000 + 0.5
	objs := []stats.Object{
		{"id": "T", "type": "transport", "timestamp": ts, "bytesSent": uint64(1000 * n), "dtlsState": "connected"},
		{"id": "OUT", "type": "outbound-rtp", "timestamp": ts, "packetsSent": uint32(50 * n), "huge": uint64(math.MaxUint64) - uint64(n),
			"negZero": math.Copysign(0, -1), "nested": map[string]any{"a": []any{1.0, "<x>", n}}},
	}
	if n%4 != 0 {
		objs = append(objs, stats.Object{"id": "IN", "type": "inbound-rtp", "timestamp": ts - 3, "packetsReceived": uint32(49 * n),
			"jitter": 0.0001 * float64(n%9)})
	}
	if n%5 == 0 {
		objs[1]["packetsSent"] = "a string now"
	}
	if n == 7 {
		objs = append(objs, stats.Object{"id": "T", "type": "transport", "timestamp": ts})
	}
	return stats.NewSample(stats.SDKInfo{SDK: "callstat", InstanceID: "i"}, "c", "bob", n, at, stats.Report{State: "Connected", Objects: objs})
}

// What a Decoder reads back from Encode's rows is, byte for byte, the JSON
// of each sample, across keyframes, deltas and samples that must be full.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	var st *delta.State
	dec := delta.NewDecoder()
	encs := map[int]int{}
	for n := range 300 {
		s := sample(n)
		enc, body, next, err := delta.Encode(st, s)
		if err != nil {
			t.Fatalf("sample %d: %v", n, err)
		}
		encs[enc]++
		st = next
		got, err := dec.Decode(n, enc, body)
		if err != nil {
			t.Fatalf("sample %d: %v", n, err)
		}
		want, err := json.Marshal(s.Objects)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("sample %d differs:\n got %s\nwant %s", n, got, want)
		}
	}
	// Three keyframes at least (0, 120, 240) and the row after the id
	// twice; every other row a delta.
	if len(encs) != 2 || encs[1] < 3 || encs[2] < 290 {
		t.Errorf("rows by encoding %v, want keyframes (1) and mostly deltas (2)", encs)
	}
}

// A delta whose previous row is missing, or whose body is corrupt, is
// ErrDamaged; the next keyframe reads again.
func TestDecodeDamaged(t *testing.T) {
	type row struct {
		enc  int
		body []byte
	}
	var rows []row
	var st *delta.State
	for n := range 4 {
		enc, body, next, err := delta.Encode(st, sample(n))
		if err != nil {
			t.Fatal(err)
		}
		rows, st = append(rows, row{enc, body}), next
	}
	if rows[0].enc != 1 || rows[2].enc != 2 || rows[3].enc != 2 {
		t.Fatalf("encodings %v", rows)
	}
	dec := delta.NewDecoder()
	if _, err := dec.Decode(2, rows[2].enc, rows[2].body); !errors.Is(err, delta.ErrDamaged) {
		t.Errorf("a delta without its previous row: err = %v, want ErrDamaged", err)
	}
	if _, err := dec.Decode(3, rows[3].enc, rows[3].body); !errors.Is(err, delta.ErrDamaged) {
		t.Errorf("the delta after a damaged one: err = %v, want ErrDamaged", err)
	}
	if _, err := dec.Decode(0, rows[0].enc, rows[0].body); err != nil {
		t.Fatalf("keyframe: %v", err)
	}
	if _, err := dec.Decode(1, rows[1].enc, []byte{0xde, 0xad, 0xbe, 0xef}); !errors.Is(err, delta.ErrDamaged) {
		t.Errorf("a corrupt body: err = %v, want ErrDamaged", err)
	}
	if _, err := dec.Decode(1, 9, rows[1].body); !errors.Is(err, delta.ErrDamaged) {
		t.Errorf("an unknown encoding: err = %v, want ErrDamaged", err)
	}
}
