package store

// Sample rows are stored as deltas (schema v3, docs/stats-file.md): most of
// a sample repeats the one before (certificates, candidates, codecs, every
// id and name), and a full sample a second is some 6 KB, 20 MB per call
// and hour. As rtcstats does, a row keeps only what changed since the
// previous sample, with a full keyframe every keyframeEvery samples so
// that a damaged row costs at most the samples up to the next keyframe.
// Reading reconstructs every sample whole: the dump is byte for byte what
// the full samples would have given.

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/callstat/callstat/pkg/stats"
)

// How a sample row's body is encoded (samples.enc).
const (
	// encJSON: the sample as a JSON array of objects (schema v1 and v2).
	encJSON = 0
	// encKeyframe: the same JSON array, DEFLATE-compressed (RFC 1951).
	encKeyframe = 1
	// encDelta: what changed since sample n-1 of the call (deltaRow, as
	// JSON), DEFLATE-compressed with the previous row's uncompressed
	// payload as preset dictionary.
	encDelta = 2
)

// keyframeEvery is how many samples a keyframe starts, itself included: a
// minute of samples at the default interval.
const keyframeEvery = 60

// errDamaged means a row cannot be decoded: its body is corrupt, or the row
// it depends on is missing or was damaged itself.
var errDamaged = errors.New("damaged sample row")

// A delta row, as JSON:
//
//	{"t": <the SDK entry's timestamp>,
//	 "o": [entry, ...]}               one entry per object of the sample, in order
//
// An entry is one of
//
//	i                                 object i of the previous sample, unchanged
//	[i, set, add, del]                object i of the previous sample, changed
//	{...}                             a new object, whole
//
// set is a flat list of key, value pairs: the key is the index of a key of
// object i (its keys sorted, as JSON objects are written) or, for a key it
// did not have, the key's name; the value is the new value. add is a flat
// list of key index, increment pairs for integer values that changed by
// the increment. del lists the indexes of keys that are gone. add and del
// may be left out, set may be empty.
//
// An object's timestamp is implied: when it equalled the previous
// sample's "t", it equals this sample's "t", unless set says otherwise.
type deltaRow struct {
	T any   `json:"t"`
	O []any `json:"o"`
}

// callState is what the encoder keeps of a call between two samples.
type callState struct {
	seq      int64          // calls.seq
	n        int            // the last sample stored
	objs     []stats.Object // its objects
	keys     [][]string     // each object's keys, sorted
	payload  []byte         // its row's uncompressed payload, the next row's dictionary
	sinceKey int            // samples since the last keyframe, that one included
}

// compressors are DEFLATE writers at BestSpeed, reused: a new one costs
// some 600 KB. BestSpeed because a row is small and written every second
// for every call; its size comes from the delta and the dictionary.
var compressors = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// deflate compresses payload with dict (nil: none) as preset dictionary.
// compress/flate cannot take a new dictionary without allocating a new
// writer, so the dictionary is compressed first and its output, which ends
// at a flush, dropped: what follows may refer back into it, exactly as
// into a preset dictionary (the reader is given the same bytes).
func deflate(payload, dict []byte) []byte {
	w := compressors.Get().(*flate.Writer)
	defer compressors.Put(w)
	var buf bytes.Buffer
	w.Reset(&buf)
	mark := 0
	if len(dict) > 0 {
		_, _ = w.Write(dict)
		_ = w.Flush()
		mark = buf.Len()
	}
	_, _ = w.Write(payload)
	_ = w.Close()
	return bytes.Clone(buf.Bytes()[mark:])
}

// encodeSample encodes smp after st (nil for the call's first sample in
// this process), returning the row's encoding, its body and the state to
// keep once the row is committed.
func encodeSample(st *callState, seq int64, smp stats.Sample) (enc int, body []byte, next *callState, err error) {
	next = &callState{seq: seq, n: smp.Seq, objs: smp.Objects, keys: make([][]string, len(smp.Objects))}
	if st != nil && st.n == smp.Seq-1 && st.sinceKey < keyframeEvery {
		if payload, ok := encodeDelta(st, smp.Objects, next.keys); ok {
			next.payload, next.sinceKey = payload, st.sinceKey+1
			return encDelta, deflate(payload, st.payload), next, nil
		}
	}
	payload, err := json.Marshal(smp.Objects)
	if err != nil {
		return 0, nil, nil, err
	}
	for i, o := range smp.Objects {
		next.keys[i] = sortedKeys(o)
	}
	next.payload, next.sinceKey = payload, 1
	return encKeyframe, deflate(payload, nil), next, nil
}

func sortedKeys(o stats.Object) []string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sameKeys reports whether o has exactly keys.
func sameKeys(o stats.Object, keys []string) bool {
	if len(o) != len(keys) {
		return false
	}
	for _, k := range keys {
		if _, ok := o[k]; !ok {
			return false
		}
	}
	return true
}

// encodeDelta returns the delta row from st's sample to cur, filling keys
// with each object's sorted keys. It reports false when a keyframe must be
// written instead: no timestamp to imply from, an id twice, or a value
// JSON cannot carry.
func encodeDelta(st *callState, cur []stats.Object, keys [][]string) ([]byte, bool) {
	prev := st.objs
	if len(prev) == 0 || len(cur) == 0 {
		return nil, false
	}
	prevT, ok1 := prev[0]["timestamp"]
	curT, ok2 := cur[0]["timestamp"]
	if !ok1 || !ok2 {
		return nil, false
	}
	byID := make(map[string]int, len(prev))
	for i, o := range prev {
		if _, dup := byID[o.ID()]; dup {
			return nil, false
		}
		byID[o.ID()] = i
	}
	row := deltaRow{T: curT, O: make([]any, 0, len(cur))}
	seen := make(map[string]bool, len(cur))
	for ci, o := range cur {
		id := o.ID()
		if seen[id] {
			return nil, false
		}
		seen[id] = true
		i, ok := byID[id]
		if !ok {
			keys[ci] = sortedKeys(o)
			row.O = append(row.O, o)
			continue
		}
		p, pk := prev[i], st.keys[i]
		ck := pk
		if !sameKeys(o, pk) {
			ck = sortedKeys(o)
		}
		keys[ci] = ck
		e, changed, ok := objectDelta(p, pk, o, ck, prevT, curT)
		if !ok {
			return nil, false
		}
		if !changed {
			row.O = append(row.O, i)
			continue
		}
		row.O = append(row.O, append([]any{i}, e...))
	}
	payload, err := json.Marshal(row)
	if err != nil {
		return nil, false
	}
	return payload, true
}

// objectDelta returns the entry's set, add and del lists (trailing empty
// ones left out) for object p (keys pk) becoming o (keys ck).
func objectDelta(p stats.Object, pk []string, o stats.Object, ck []string, prevT, curT any) (entry []any, changed, ok bool) {
	set, add, del := []any{}, []any(nil), []any(nil)
	i, j := 0, 0
	for i < len(pk) || j < len(ck) {
		switch {
		case j == len(ck) || (i < len(pk) && pk[i] < ck[j]): // gone
			del = append(del, i)
			changed = true
			i++
		case i == len(pk) || ck[j] < pk[i]: // new
			set = append(set, ck[j], o[ck[j]])
			changed = true
			j++
		default:
			k := ck[j]
			was, now := p[k], o[k]
			if k == "timestamp" && sameJSON(was, prevT) {
				was = curT // implied
			}
			if !sameJSON(was, now) {
				changed = true
				if d, ok := increment(was, now); ok {
					add = append(add, i, d)
				} else {
					set = append(set, i, now)
				}
			}
			i++
			j++
		}
	}
	if !changed {
		return nil, false, true
	}
	entry = []any{set}
	if add != nil || del != nil {
		entry = append(entry, orEmpty(add))
	}
	if del != nil {
		entry = append(entry, del)
	}
	return entry, true, true
}

func orEmpty(xs []any) []any {
	if xs == nil {
		return []any{}
	}
	return xs
}

// sameJSON reports whether two values are written alike in JSON: the
// delta's rule, since the reader compares what was written.
func sameJSON(a, b any) bool {
	switch x := a.(type) {
	case float64:
		if y, ok := b.(float64); ok {
			return x == y && math.Signbit(x) == math.Signbit(y)
		}
	case string:
		if y, ok := b.(string); ok {
			return x == y
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y
		}
	case nil:
		return b == nil
	}
	if ia, ok := integer(a); ok {
		ib, ok := integer(b)
		return ok && ia == ib
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// maxExact is the largest integer a float64 holds exactly.
const maxExact = 1 << 53

// integer returns v as an integer when JSON writes it as one (digits, no
// fraction or exponent) and it is exact in a float64 on both sides.
func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > maxExact || (n == 0 && math.Signbit(n)) {
			return 0, false
		}
		return int64(n), true
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint:
		return uintInteger(uint64(n))
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		return uintInteger(n)
	}
	return 0, false
}

func uintInteger(n uint64) (int64, bool) {
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// increment is now - was when both are integers whose difference is exact.
func increment(was, now any) (int64, bool) {
	a, ok1 := integer(was)
	b, ok2 := integer(now)
	if !ok1 || !ok2 || (b > 0 && a < b-math.MaxInt64) || (b < 0 && a > b+math.MaxInt64) {
		return 0, false
	}
	return b - a, true
}

// rawObject is an object as the reader keeps it: its members in key order,
// each value the JSON it was written as.
type rawObject []rawMember

type rawMember struct {
	key  string // as decoded, for ordering
	qkey []byte // as written, quoted
	val  []byte
}

// decoder reconstructs the samples of one call from its rows, in order.
type decoder struct {
	inflater io.ReadCloser
	n        int         // the last sample decoded, -1 before one
	ok       bool        // objs and payload belong to sample n
	objs     []rawObject // sample n
	t        []byte      // its SDK entry's timestamp
	payload  []byte      // its row's uncompressed payload
	out      bytes.Buffer
}

func newDecoder() *decoder { return &decoder{n: -1} }

// decode returns sample n's JSON array from its row, or an error wrapping
// errDamaged; a damaged row breaks the deltas that follow it, up to the
// next full row.
func (d *decoder) decode(n, enc int, body []byte) ([]byte, error) {
	switch enc {
	case encJSON:
		d.ok = false
		return body, d.full(n, body)
	case encKeyframe:
		d.ok = false
		payload, err := d.inflate(body, nil)
		if err != nil {
			return nil, err
		}
		return payload, d.full(n, payload)
	case encDelta:
		if !d.ok || d.n != n-1 {
			d.ok = false
			return nil, fmt.Errorf("%w: sample %d follows a sample that is missing or damaged", errDamaged, n)
		}
		d.ok = false
		payload, err := d.inflate(body, d.payload)
		if err != nil {
			return nil, err
		}
		if err := d.apply(payload); err != nil {
			return nil, fmt.Errorf("%w: sample %d: %v", errDamaged, n, err)
		}
		d.n, d.payload, d.ok = n, payload, true
		return d.write(), nil
	default:
		d.ok = false
		return nil, fmt.Errorf("%w: sample %d has unknown encoding %d", errDamaged, n, enc)
	}
}

func (d *decoder) inflate(body, dict []byte) ([]byte, error) {
	src := bytes.NewReader(body)
	if d.inflater == nil {
		d.inflater = flate.NewReaderDict(src, dict)
	} else if err := d.inflater.(flate.Resetter).Reset(src, dict); err != nil {
		return nil, fmt.Errorf("%w: %v", errDamaged, err)
	}
	payload, err := io.ReadAll(d.inflater)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDamaged, err)
	}
	return payload, nil
}

// full takes a whole sample as the base of the next row. A body that is
// not a JSON array of objects is passed on as stored (old rows were never
// checked) but breaks the deltas after it.
func (d *decoder) full(n int, payload []byte) error {
	objs, err := parseObjects(payload)
	if err != nil {
		return nil // nothing depends on it: delta rows only follow encoder-written rows
	}
	d.n, d.objs, d.payload, d.ok = n, objs, payload, true
	d.t = d.timestamp()
	return nil
}

func (d *decoder) timestamp() []byte {
	if len(d.objs) == 0 {
		return nil
	}
	return d.objs[0].get("timestamp")
}

func (o rawObject) get(key string) []byte {
	i, ok := slices.BinarySearchFunc(o, key, func(m rawMember, k string) int { return cmpString(m.key, k) })
	if !ok {
		return nil
	}
	return o[i].val
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// apply turns the last sample into the one a delta row describes.
func (d *decoder) apply(payload []byte) error {
	var row struct {
		T json.RawMessage   `json:"t"`
		O []json.RawMessage `json:"o"`
	}
	if err := json.Unmarshal(payload, &row); err != nil {
		return err
	}
	if len(row.T) == 0 {
		return errors.New("no timestamp")
	}
	prev, prevT := d.objs, d.t
	objs := make([]rawObject, 0, len(row.O))
	for _, e := range row.O {
		e = bytes.TrimSpace(e)
		if len(e) == 0 {
			return errors.New("empty entry")
		}
		switch e[0] {
		case '{':
			o, err := parseObject(e)
			if err != nil {
				return err
			}
			objs = append(objs, o)
		case '[':
			var parts []json.RawMessage
			if err := json.Unmarshal(e, &parts); err != nil {
				return err
			}
			if len(parts) < 2 || len(parts) > 4 {
				return fmt.Errorf("entry of %d parts", len(parts))
			}
			p, err := prevObject(prev, parts[0])
			if err != nil {
				return err
			}
			o, err := changeObject(p, prevT, row.T, parts[1:])
			if err != nil {
				return err
			}
			objs = append(objs, o)
		default:
			p, err := prevObject(prev, e)
			if err != nil {
				return err
			}
			objs = append(objs, carry(p, prevT, row.T))
		}
	}
	d.objs, d.t = objs, row.T
	return nil
}

func prevObject(prev []rawObject, index json.RawMessage) (rawObject, error) {
	i, err := strconv.Atoi(string(index))
	if err != nil || i < 0 || i >= len(prev) {
		return nil, fmt.Errorf("no object %s in the previous sample", index)
	}
	return prev[i], nil
}

// carry is object p, unchanged but for its implied timestamp.
func carry(p rawObject, prevT, t []byte) rawObject {
	o := slices.Clone(p)
	for i := range o {
		if o[i].key == "timestamp" && bytes.Equal(o[i].val, prevT) {
			o[i].val = t
		}
	}
	return o
}

// changeObject applies an entry's set, add and del lists to object p.
func changeObject(p rawObject, prevT, t []byte, lists []json.RawMessage) (rawObject, error) {
	o := carry(p, prevT, t)
	var set, add []json.RawMessage
	var del []int
	if err := json.Unmarshal(lists[0], &set); err != nil || len(set)%2 != 0 {
		return nil, fmt.Errorf("bad set list %s", lists[0])
	}
	if len(lists) > 1 {
		if err := json.Unmarshal(lists[1], &add); err != nil || len(add)%2 != 0 {
			return nil, fmt.Errorf("bad add list %s", lists[1])
		}
	}
	if len(lists) > 2 {
		if err := json.Unmarshal(lists[2], &del); err != nil {
			return nil, fmt.Errorf("bad del list %s", lists[2])
		}
	}
	var added rawObject
	for i := 0; i < len(set); i += 2 {
		k, v := bytes.TrimSpace(set[i]), set[i+1]
		if len(k) > 0 && k[0] == '"' {
			var name string
			if err := json.Unmarshal(k, &name); err != nil {
				return nil, err
			}
			added = append(added, rawMember{key: name, qkey: k, val: v})
			continue
		}
		at, err := memberIndex(o, k)
		if err != nil {
			return nil, err
		}
		o[at].val = v
	}
	for i := 0; i < len(add); i += 2 {
		at, err := memberIndex(o, add[i])
		if err != nil {
			return nil, err
		}
		was, err := strconv.ParseInt(string(o[at].val), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("increment of %s, which is not an integer", o[at].qkey)
		}
		by, err := strconv.ParseInt(string(add[i+1]), 10, 64)
		if err != nil {
			return nil, err
		}
		o[at].val = strconv.AppendInt(nil, was+by, 10)
	}
	if len(del) > 0 {
		gone := make([]bool, len(o))
		for _, i := range del {
			if i < 0 || i >= len(o) {
				return nil, fmt.Errorf("no key %d to delete", i)
			}
			gone[i] = true
		}
		kept := o[:0]
		for i, m := range o {
			if !gone[i] {
				kept = append(kept, m)
			}
		}
		o = kept
	}
	for _, m := range added {
		at, found := slices.BinarySearchFunc(o, m.key, func(x rawMember, k string) int { return cmpString(x.key, k) })
		if found {
			return nil, fmt.Errorf("key %s added twice", m.qkey)
		}
		o = slices.Insert(o, at, m)
	}
	return o, nil
}

func memberIndex(o rawObject, index json.RawMessage) (int, error) {
	i, err := strconv.Atoi(string(bytes.TrimSpace(index)))
	if err != nil || i < 0 || i >= len(o) {
		return 0, fmt.Errorf("no key %s", index)
	}
	return i, nil
}

// write returns the current sample as the JSON array it was stored from.
func (d *decoder) write() []byte {
	d.out.Reset()
	d.out.WriteByte('[')
	for i, o := range d.objs {
		if i > 0 {
			d.out.WriteByte(',')
		}
		d.out.WriteByte('{')
		for j, m := range o {
			if j > 0 {
				d.out.WriteByte(',')
			}
			d.out.Write(m.qkey)
			d.out.WriteByte(':')
			d.out.Write(m.val)
		}
		d.out.WriteByte('}')
	}
	d.out.WriteByte(']')
	return d.out.Bytes()
}

// parseObjects reads a JSON array of objects, keeping each member as
// written.
func parseObjects(data []byte) ([]rawObject, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(data, &elems); err != nil {
		return nil, err
	}
	objs := make([]rawObject, 0, len(elems))
	for _, e := range elems {
		o, err := parseObject(e)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// parseObject reads one JSON object, its members in key order (as
// encoding/json writes a map, so that the objects written back are the
// same bytes).
func parseObject(data []byte) (rawObject, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object: %.40s", data)
	}
	var o rawObject
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key %v", tok)
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		qkey, _ := json.Marshal(key)
		o = append(o, rawMember{key: key, qkey: qkey, val: val})
	}
	slices.SortStableFunc(o, func(a, b rawMember) int { return cmpString(a.key, b.key) })
	return o, nil
}
