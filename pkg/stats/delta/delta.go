// Package delta is the codec of the store's sample rows (schema v3,
// docs/stats-file.md): most of a sample repeats the one before
// (certificates, candidates, codecs, every id and name), and a full sample
// a second is some 6 KB, 20 MB per call and hour. As rtcstats does, a row
// keeps only what changed since the previous sample, with a full keyframe
// every keyframeEvery samples so that a damaged row costs at most the
// samples up to the next keyframe. Reading reconstructs every sample
// whole: the dump is byte for byte what the full samples would have given.
//
// Encode turns a call's samples, one after another, into rows (an
// encoding and a body); a Decoder turns a call's rows, in order, back into
// samples. Where the rows are kept is the store's business.
package delta

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
	"strings"
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

// keyframeEvery is how many samples a keyframe starts, itself included:
// two minutes at the default interval, what a damaged row can cost. A
// keyframe is some 2.5 KB, ten to fifteen deltas: one every two minutes
// keeps a call under 1 MB an hour (docs/BENCHMARKS.md).
const keyframeEvery = 120

// ErrDamaged means a row cannot be decoded: its body is corrupt, or the row
// it depends on is missing or was damaged itself.
var ErrDamaged = errors.New("damaged sample row")

// The delta row (encDelta), as JSON (docs/stats-file.md):
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

// State is what the encoder keeps of a call between two samples: the
// next sample is a delta from the one it describes.
type State struct {
	n        int         // the last sample stored
	objs     []encObject // its objects
	payload  []byte      // its row's uncompressed payload, the next row's dictionary
	sinceKey int         // samples since the last keyframe, that one included
}

// encObject is an object as the encoder keeps it: its keys sorted, as JSON
// writes them, and their values in the same order.
type encObject struct {
	id   string
	keys []string
	vals []any
}

func newEncObject(o stats.Object) encObject {
	e := encObject{id: o.ID(), keys: make([]string, 0, len(o))}
	for k := range o {
		e.keys = append(e.keys, k)
	}
	slices.Sort(e.keys)
	e.vals = make([]any, len(e.keys))
	for i, k := range e.keys {
		e.vals[i] = o[k]
	}
	return e
}

// get returns the value of key.
func (e encObject) get(key string) (any, bool) {
	i, ok := slices.BinarySearch(e.keys, key)
	if !ok {
		return nil, false
	}
	return e.vals[i], true
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

// Encode encodes smp after st (nil for the call's first sample in this
// process), returning the row's encoding, its body and the state to keep
// once the row is committed.
func Encode(st *State, smp stats.Sample) (enc int, body []byte, next *State, err error) {
	next = &State{n: smp.Seq}
	if st != nil && st.n == smp.Seq-1 && st.sinceKey < keyframeEvery {
		if payload, objs, ok := encodeDelta(st, smp.Objects); ok {
			next.objs, next.payload, next.sinceKey = objs, payload, st.sinceKey+1
			return encDelta, deflate(payload, st.payload), next, nil
		}
	}
	payload, err := json.Marshal(smp.Objects)
	if err != nil {
		return 0, nil, nil, err
	}
	next.objs = make([]encObject, len(smp.Objects))
	for i, o := range smp.Objects {
		next.objs[i] = newEncObject(o)
	}
	next.payload, next.sinceKey = payload, 1
	return encKeyframe, deflate(payload, nil), next, nil
}

// encodeDelta returns the delta row from st's sample to cur, and cur as
// the encoder keeps it. It reports false when a keyframe must be written
// instead: no timestamp to imply from, an id twice, or a value JSON cannot
// carry.
func encodeDelta(st *State, cur []stats.Object) ([]byte, []encObject, bool) {
	prev := st.objs
	if len(prev) == 0 || len(cur) == 0 {
		return nil, nil, false
	}
	prevT, ok1 := prev[0].get("timestamp")
	curT, ok2 := cur[0]["timestamp"]
	if !ok1 || !ok2 {
		return nil, nil, false
	}
	var byID map[string]int // built when an object is not where it was
	seen := make(map[string]bool, len(cur))
	next := make([]encObject, len(cur))
	w := jsonWriter{buf: make([]byte, 0, 1024)}
	w.raw(`{"t":`)
	if !w.value(curT) {
		return nil, nil, false
	}
	w.raw(`,"o":[`)
	for ci, o := range cur {
		id := o.ID()
		if seen[id] {
			return nil, nil, false
		}
		seen[id] = true
		if ci > 0 {
			w.byte(',')
		}
		i := -1
		if ci < len(prev) && prev[ci].id == id {
			i = ci
		} else {
			if byID == nil {
				byID = make(map[string]int, len(prev))
				for j, p := range prev {
					if _, dup := byID[p.id]; dup {
						return nil, nil, false
					}
					byID[p.id] = j
				}
			}
			if j, ok := byID[id]; ok {
				i = j
			}
		}
		if i < 0 { // new: whole
			next[ci] = newEncObject(o)
			if !w.value(o) {
				return nil, nil, false
			}
			continue
		}
		p := prev[i]
		e, same := encObject{id: id, keys: p.keys, vals: make([]any, len(p.keys))}, len(o) == len(p.keys)
		if same {
			for j, k := range p.keys {
				v, ok := o[k]
				if !ok {
					same = false
					break
				}
				e.vals[j] = v
			}
		}
		if !same {
			e = newEncObject(o)
		}
		next[ci] = e
		if !objectDelta(&w, i, p, e, prevT, curT) {
			return nil, nil, false
		}
	}
	w.raw(`]}`)
	return w.buf, next, true
}

// objectDelta writes the entry of object p (index i of the previous
// sample) becoming o: i alone when nothing changed, else [i, set, add,
// del] with trailing empty lists left out.
func objectDelta(w *jsonWriter, i int, p, o encObject, prevT, curT any) bool {
	var set, add jsonWriter
	var del []int
	a, b := 0, 0
	for a < len(p.keys) || b < len(o.keys) {
		switch {
		case b == len(o.keys) || (a < len(p.keys) && p.keys[a] < o.keys[b]): // gone
			del = append(del, a)
			a++
		case a == len(p.keys) || o.keys[b] < p.keys[a]: // new
			set.sep()
			set.str(o.keys[b])
			set.byte(',')
			if !set.value(o.vals[b]) {
				return false
			}
			b++
		default:
			was, now := p.vals[a], o.vals[b]
			if o.keys[b] == "timestamp" && sameJSON(was, prevT) {
				was = curT // implied
			}
			if !sameJSON(was, now) {
				if d, ok := increment(was, now); ok {
					add.sep()
					add.int(int64(a))
					add.byte(',')
					add.int(d)
				} else {
					set.sep()
					set.int(int64(a))
					set.byte(',')
					if !set.value(now) {
						return false
					}
				}
			}
			a++
			b++
		}
	}
	if len(set.buf) == 0 && len(add.buf) == 0 && del == nil {
		w.int(int64(i))
		return true
	}
	w.byte('[')
	w.int(int64(i))
	w.raw(",[")
	w.buf = append(w.buf, set.buf...)
	w.byte(']')
	if len(add.buf) > 0 || del != nil {
		w.raw(",[")
		w.buf = append(w.buf, add.buf...)
		w.byte(']')
	}
	if del != nil {
		w.raw(",[")
		for j, d := range del {
			if j > 0 {
				w.byte(',')
			}
			w.int(int64(d))
		}
		w.byte(']')
	}
	w.byte(']')
	return true
}

// jsonWriter writes a delta row. Values are written exactly as
// encoding/json writes them, which is what the reader compares and what
// the dump must reproduce; the common ones without reflection.
type jsonWriter struct{ buf []byte }

func (w *jsonWriter) byte(c byte)  { w.buf = append(w.buf, c) }
func (w *jsonWriter) raw(s string) { w.buf = append(w.buf, s...) }
func (w *jsonWriter) int(n int64)  { w.buf = strconv.AppendInt(w.buf, n, 10) }
func (w *jsonWriter) str(s string) { _ = w.value(s) }
func (w *jsonWriter) sep() {
	if len(w.buf) > 0 {
		w.byte(',')
	}
}

// value writes v; false if JSON cannot carry it.
func (w *jsonWriter) value(v any) bool {
	switch x := v.(type) {
	case nil:
		w.raw("null")
	case bool:
		w.buf = strconv.AppendBool(w.buf, x)
	case float64:
		b, ok := appendJSONFloat(w.buf, x)
		if !ok {
			return false
		}
		w.buf = b
	case int:
		w.int(int64(x))
	case int32:
		w.int(int64(x))
	case int64:
		w.int(x)
	case uint32:
		w.buf = strconv.AppendUint(w.buf, uint64(x), 10)
	case uint64:
		w.buf = strconv.AppendUint(w.buf, x, 10)
	default: // strings (escaped as encoding/json escapes them), objects, the rest
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		w.buf = append(w.buf, b...)
	}
	return true
}

// appendJSONFloat appends f as encoding/json writes a float64 (shortest
// repr; exponent form below 1e-6 and from 1e21, its exponent without a
// leading zero); false for NaN and infinities, which JSON cannot carry.
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
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

// Decoder reconstructs the samples of one call from its rows, in order.
type Decoder struct {
	inflater io.ReadCloser
	n        int         // the last sample decoded, -1 before one
	ok       bool        // objs and payload belong to sample n
	objs     []rawObject // sample n
	t        []byte      // its SDK entry's timestamp
	payload  []byte      // its row's uncompressed payload
	out      bytes.Buffer
}

// NewDecoder returns a decoder for one call's rows.
func NewDecoder() *Decoder { return &Decoder{n: -1} }

// Decode returns sample n's JSON array from its row, or an error wrapping
// ErrDamaged; a damaged row breaks the deltas that follow it, up to the
// next full row.
func (d *Decoder) Decode(n, enc int, body []byte) ([]byte, error) {
	switch enc {
	case encJSON:
		d.full(n, body)
		return body, nil
	case encKeyframe:
		d.ok = false
		payload, err := d.inflate(body, nil)
		if err != nil {
			return nil, err
		}
		d.full(n, payload)
		return payload, nil
	case encDelta:
		if !d.ok || d.n != n-1 {
			d.ok = false
			return nil, fmt.Errorf("%w: sample %d follows a sample that is missing or damaged", ErrDamaged, n)
		}
		d.ok = false
		payload, err := d.inflate(body, d.payload)
		if err != nil {
			return nil, err
		}
		if err := d.apply(payload); err != nil {
			return nil, fmt.Errorf("%w: sample %d: %v", ErrDamaged, n, err)
		}
		d.n, d.payload, d.ok = n, payload, true
		return d.write(), nil
	default:
		d.ok = false
		return nil, fmt.Errorf("%w: sample %d has unknown encoding %d", ErrDamaged, n, enc)
	}
}

func (d *Decoder) inflate(body, dict []byte) ([]byte, error) {
	src := bytes.NewReader(body)
	if d.inflater == nil {
		d.inflater = flate.NewReaderDict(src, dict)
	} else if err := d.inflater.(flate.Resetter).Reset(src, dict); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	payload, err := io.ReadAll(d.inflater)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return payload, nil
}

// full takes a whole sample as the base of the next row. A body that is
// not a JSON array of objects is passed on as stored (old rows were never
// checked) but breaks the deltas after it: delta rows only follow rows the
// encoder wrote.
func (d *Decoder) full(n int, payload []byte) {
	objs, err := parseObjects(payload)
	if err != nil {
		d.ok = false
		return
	}
	d.n, d.objs, d.payload, d.ok = n, objs, payload, true
	d.t = d.timestamp()
}

func (d *Decoder) timestamp() []byte {
	if len(d.objs) == 0 {
		return nil
	}
	return d.objs[0].get("timestamp")
}

func (o rawObject) get(key string) []byte {
	i, ok := slices.BinarySearchFunc(o, key, func(m rawMember, k string) int { return strings.Compare(m.key, k) })
	if !ok {
		return nil
	}
	return o[i].val
}

// apply turns the last sample into the one a delta row describes.
func (d *Decoder) apply(payload []byte) error {
	sc := &scanner{data: payload}
	if err := sc.expect('{'); err != nil {
		return err
	}
	var t []byte
	var objs []rawObject
	seenO := false
	for first := true; ; first = false {
		more, err := sc.more('}', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		name, _, err := sc.key()
		if err != nil {
			return err
		}
		switch name {
		case "t":
			if t, err = sc.value(); err != nil {
				return err
			}
		case "o":
			if t == nil {
				return errors.New(`"o" before "t"`)
			}
			if objs, err = d.entries(sc, t); err != nil {
				return err
			}
			seenO = true
		default:
			if _, err := sc.value(); err != nil {
				return err
			}
		}
	}
	if err := sc.end(); err != nil {
		return err
	}
	if t == nil || !seenO {
		return errors.New("no timestamp or no objects")
	}
	d.objs, d.t = objs, t
	return nil
}

// entries reads the "o" list into the new sample's objects.
func (d *Decoder) entries(sc *scanner, t []byte) ([]rawObject, error) {
	prev, prevT := d.objs, d.t
	if err := sc.expect('['); err != nil {
		return nil, err
	}
	objs := make([]rawObject, 0, len(prev))
	for first := true; ; first = false {
		more, err := sc.more(']', first)
		if err != nil {
			return nil, err
		}
		if !more {
			return objs, nil
		}
		switch sc.peek() {
		case '{':
			o, err := sc.object()
			if err != nil {
				return nil, err
			}
			objs = append(objs, o)
		case '[':
			sc.i++
			p, err := prevObject(sc, prev)
			if err != nil {
				return nil, err
			}
			o, err := changeObject(sc, p, prevT, t)
			if err != nil {
				return nil, err
			}
			objs = append(objs, o)
		default:
			p, err := prevObject(sc, prev)
			if err != nil {
				return nil, err
			}
			objs = append(objs, carry(p, prevT, t))
		}
	}
}

func prevObject(sc *scanner, prev []rawObject) (rawObject, error) {
	i, err := sc.int()
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= int64(len(prev)) {
		return nil, fmt.Errorf("no object %d in the previous sample", i)
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

// changeObject reads the rest of an entry, [i, set, add, del] after i,
// and applies it to object p.
func changeObject(sc *scanner, p rawObject, prevT, t []byte) (rawObject, error) {
	o := carry(p, prevT, t)
	var added rawObject
	var gone []bool
	for list := 0; ; list++ {
		if sc.peek() == ']' {
			sc.i++
			break
		}
		if err := sc.expect(','); err != nil {
			return nil, err
		}
		if err := sc.expect('['); err != nil {
			return nil, err
		}
		for first := true; ; first = false {
			more, err := sc.more(']', first)
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
			switch list {
			case 0: // set: key index or name, value
				var name string
				var quoted []byte
				at := -1
				if sc.peek() == '"' {
					if quoted, err = sc.value(); err != nil {
						return nil, err
					}
					if name, err = unquote(quoted); err != nil {
						return nil, err
					}
				} else if at, err = memberIndex(sc, o); err != nil {
					return nil, err
				}
				if err := sc.expect(','); err != nil {
					return nil, err
				}
				v, err := sc.value()
				if err != nil {
					return nil, err
				}
				if at < 0 {
					added = append(added, rawMember{key: name, qkey: quoted, val: v})
				} else {
					o[at].val = v
				}
			case 1: // add: key index, increment
				at, err := memberIndex(sc, o)
				if err != nil {
					return nil, err
				}
				if err := sc.expect(','); err != nil {
					return nil, err
				}
				by, err := sc.int()
				if err != nil {
					return nil, err
				}
				was, err := strconv.ParseInt(string(o[at].val), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("increment of %s, which is not an integer", o[at].qkey)
				}
				o[at].val = strconv.AppendInt(nil, was+by, 10)
			case 2: // del: key index
				at, err := memberIndex(sc, o)
				if err != nil {
					return nil, err
				}
				if gone == nil {
					gone = make([]bool, len(o))
				}
				gone[at] = true
			default:
				return nil, errors.New("an entry has more than four parts")
			}
		}
	}
	if gone != nil {
		kept := o[:0]
		for i, m := range o {
			if !gone[i] {
				kept = append(kept, m)
			}
		}
		o = kept
	}
	for _, m := range added {
		at, found := slices.BinarySearchFunc(o, m.key, func(x rawMember, k string) int { return strings.Compare(x.key, k) })
		if found {
			return nil, fmt.Errorf("key %s added twice", m.qkey)
		}
		o = slices.Insert(o, at, m)
	}
	return o, nil
}

func memberIndex(sc *scanner, o rawObject) (int, error) {
	i, err := sc.int()
	if err != nil {
		return 0, err
	}
	if i < 0 || i >= int64(len(o)) {
		return 0, fmt.Errorf("no key %d", i)
	}
	return int(i), nil
}

// write returns the current sample as the JSON array it was stored from.
func (d *Decoder) write() []byte {
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
	sc := &scanner{data: data}
	if err := sc.expect('['); err != nil {
		return nil, err
	}
	var objs []rawObject
	for first := true; ; first = false {
		more, err := sc.more(']', first)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		o, err := sc.object()
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, sc.end()
}

func sortMembers(o rawObject) {
	slices.SortStableFunc(o, func(a, b rawMember) int { return strings.Compare(a.key, b.key) })
}
