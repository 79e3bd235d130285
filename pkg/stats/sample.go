// Package stats is the sample model: a call's WebRTC statistics as the
// objects of a sample (W3C names, file order), the SDK entry at its head,
// the records of a call's start and end, the batch a sink stores, the log
// entries kept with them, and what is computed from one sample (MOS,
// round-trip time, references between objects). It imports no other
// callstat package. Beside it: collect samples the calls every interval,
// report sums calls up and checks --assert, format reads and writes the
// stats file and the webrtc-internals dump, delta is the store's row
// codec, and store keeps it all in SQLite (see docs/stats-file.md).
package stats

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// Object is one stats dictionary as it appears in the stats file: W3C field
// names for RTCStats, the SDK's fields for the SDK entry.
type Object map[string]any

// ID is the object's "id".
func (o Object) ID() string { s, _ := o["id"].(string); return s }

// Type is the object's "type".
func (o Object) Type() string { s, _ := o["type"].(string); return s }

// Number returns a numeric field, and whether it is present. Objects read
// from JSON hold float64; objects built in memory (the sender-side stats)
// hold whatever integer type their source counter has.
func (o Object) Number(field string) (float64, bool) {
	switch v := o[field].(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case int:
		return float64(v), true
	case int8:
		return float64(v), true
	case int16:
		return float64(v), true
	case int32:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint:
		return float64(v), true
	case uint8:
		return float64(v), true
	case uint16:
		return float64(v), true
	case uint32:
		return float64(v), true
	case uint64:
		return float64(v), true
	}
	return 0, false
}

// SDKInfo identifies the process that takes samples, for the SDK entry at
// the head of each sample.
type SDKInfo struct {
	SDK        string // "callstat"
	Version    string
	InstanceID string // a UUID made once per process, like the SDK's sdkId
	Platform   string
}

// DefaultPlatform describes this build's platform.
func DefaultPlatform() string {
	return fmt.Sprintf("%s/%s %s", runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// SDKEntryType is the "type" of the SDK entry.
func (i SDKInfo) SDKEntryType() string { return i.SDK + "_sdk_info" }

// SDKEntryID is the "id" of the SDK entry: "<sdk>-sdk-info_<instance>".
func (i SDKInfo) SDKEntryID() string { return i.SDK + "-sdk-info_" + i.InstanceID }

// IsSDKEntry reports whether o is the SDK entry that opens a sample.
func IsSDKEntry(o Object) bool { return strings.HasSuffix(o.Type(), "_sdk_info") }

// Report is what a call returns when sampled: its state and every RTCStats
// object, in file order.
type Report struct {
	State   string
	Objects []Object
}

// Sample is one poll of one call: the SDK entry first, then the report's
// objects.
type Sample struct {
	CallID      string
	Participant string
	Seq         int // 0 for the first sample of the call
	Time        time.Time
	Objects     []Object
}

// NewSample puts the SDK entry in front of a report. As in the seed SDK, the
// entry's timestamp is copied from the first RTCStats object. Numbers JSON
// cannot carry (NaN, ±Inf) become null: one such value would otherwise fail
// the store's whole transaction, and with it every other call's samples.
func NewSample(info SDKInfo, callID, participant string, seq int, now time.Time, r Report) Sample {
	ts := float64(now.UnixNano()) / 1e6
	if len(r.Objects) > 0 {
		if v, ok := r.Objects[0].Number("timestamp"); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			ts = v
		}
	}
	entry := Object{
		"id":        info.SDKEntryID(),
		"type":      info.SDKEntryType(),
		"sdk":       info.SDK,
		"version":   info.Version,
		"callId":    callID,
		"platform":  info.Platform,
		"timestamp": ts,
		"state":     r.State,
	}
	objs := make([]Object, 0, len(r.Objects)+1)
	objs = append(objs, entry)
	for _, o := range r.Objects {
		objs = append(objs, finite(o))
	}
	return Sample{CallID: callID, Participant: participant, Seq: seq, Time: now, Objects: objs}
}

// finite returns o, or a copy of o with non-finite numbers replaced by nil,
// so that the sample can be encoded as JSON.
func finite(o Object) Object {
	var out Object
	for k, v := range o {
		var bad bool
		switch f := v.(type) {
		case float64:
			bad = math.IsNaN(f) || math.IsInf(f, 0)
		case float32:
			bad = math.IsNaN(float64(f)) || math.IsInf(float64(f), 0)
		}
		if !bad {
			continue
		}
		if out == nil {
			out = make(Object, len(o))
			for k2, v2 := range o {
				out[k2] = v2
			}
		}
		out[k] = nil
	}
	if out == nil {
		return o
	}
	return out
}

// typeOrder is the order of stats types inside a sample: the connection
// first, then the media path from source to far end, then the data path.
// Types not listed follow, by type name.
var typeOrder = map[string]int{
	string(webrtc.StatsTypePeerConnection):    0,
	string(webrtc.StatsTypeTransport):         1,
	string(webrtc.StatsTypeCandidatePair):     2,
	string(webrtc.StatsTypeLocalCandidate):    3,
	string(webrtc.StatsTypeRemoteCandidate):   4,
	string(webrtc.StatsTypeCertificate):       5,
	string(webrtc.StatsTypeCodec):             6,
	string(webrtc.StatsTypeMediaSource):       7,
	string(webrtc.StatsTypeOutboundRTP):       8,
	string(webrtc.StatsTypeRemoteInboundRTP):  9,
	string(webrtc.StatsTypeInboundRTP):        10,
	string(webrtc.StatsTypeRemoteOutboundRTP): 11,
	string(webrtc.StatsTypeSCTPTransport):     12,
	string(webrtc.StatsTypeDataChannel):       13,
}

// SortObjects puts objects in file order: by type (typeOrder, then unknown
// types by name), then id.
func SortObjects(objs []Object) {
	// The keys are read once: a sample is sorted every second for every
	// call, and each read is a map lookup.
	type keyed struct {
		rank    int
		typ, id string
		obj     Object
	}
	ks := make([]keyed, len(objs))
	for i, o := range objs {
		k := keyed{typ: o.Type(), id: o.ID(), obj: o}
		r, ok := typeOrder[k.typ]
		if !ok {
			r = len(typeOrder)
		}
		k.rank = r
		ks[i] = k
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		if a.rank != b.rank {
			return cmp.Compare(a.rank, b.rank)
		}
		// Without this, two unknown types would interleave by id.
		if a.typ != b.typ {
			return strings.Compare(a.typ, b.typ)
		}
		return strings.Compare(a.id, b.id)
	})
	for i, k := range ks {
		objs[i] = k.obj
	}
}

// FromPion converts pion's report into file objects, in file order. Each
// stats struct is serialised through its own JSON tags, which are the W3C
// names.
func FromPion(report webrtc.StatsReport) ([]Object, error) {
	objs := make([]Object, 0, len(report))
	for id, s := range report {
		o, err := ToObject(s)
		if err != nil {
			return nil, fmt.Errorf("stats: converting %s: %w", id, err)
		}
		// The report's key is the object's id; keep it when a struct
		// leaves its ID empty, so that every object can be told apart.
		if o.ID() == "" {
			o["id"] = id
		}
		objs = append(objs, o)
	}
	SortObjects(objs)
	return objs, nil
}

// ToObject converts any JSON-serialisable stats struct to an Object.
func ToObject(v any) (Object, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var o Object
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, err
	}
	if o == nil { // "null": a nil pointer
		return nil, fmt.Errorf("stats: %T is not a stats object", v)
	}
	return o, nil
}
