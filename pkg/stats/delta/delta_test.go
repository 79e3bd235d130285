package delta

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// The delta's numbers are written as encoding/json writes them: the dump
// copies them into samples that must read exactly as stored.
func TestAppendJSONFloat(t *testing.T) {
	values := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99999e-7, 1e-7, 1e20, 1e21, 123456789012345680000,
		1795645109550.8306, 0.0008214855112515678, 5e-324, math.MaxFloat64, -math.MaxFloat64, 1e-9, 2.5e-10, 7.75}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		values = append(values, f)
	}
	for _, f := range values {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendJSONFloat(nil, f)
		if !ok || string(got) != string(want) {
			t.Fatalf("appendJSONFloat(%v) = %s, %v; encoding/json writes %s", f, got, ok, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, ok := appendJSONFloat(nil, f); ok {
			t.Errorf("appendJSONFloat(%v) succeeded: JSON has no such number", f)
		}
	}
}

// A row that does not decode is an error, never a panic, whatever is in
// it; and a row that decodes writes valid JSON.
func FuzzDecodeDelta(f *testing.F) {
	prev := []byte(`[{"id":"sdk","timestamp":1000.5,"type":"callstat_sdk_info"},{"bytesSent":10,"id":"T","timestamp":1000.5,"type":"transport"}]`)
	for _, seed := range []string{
		`{"t":2000.5,"o":[0,[1,[],[0,5]]]}`,
		`{"t":2000.5,"o":[0,[1,[2,"x","new",1],[0,-3],[2]],{"id":"N","type":"codec"}]}`,
		`{"t":2000.5,"o":[7]}`,
		`{"t":"x","o":[[0,[9,1]]]}`,
		`{"o":[0],"t":1}`,
		`{"t":1,"o":[0,[1,[],[],[5]]]}`,
		`[`, `{"t":1e999,"o":[]}`, `{"t":-,"o":[]}`,
		`{"t":00,"o":[0]}`, // a number JSON refuses: found by fuzzing
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		d := NewDecoder()
		if d.full(0, prev); !d.ok {
			t.Fatal("the base sample does not parse")
		}
		if err := d.apply(payload); err != nil {
			return
		}
		out := d.write()
		if !json.Valid(out) {
			t.Fatalf("row %q decoded into invalid JSON %s", payload, out)
		}
	})
}
