// Package stats turns a call's WebRTC statistics into samples, collects one
// per call every interval, and defines the stats file (see
// docs/stats-file.md). The SQLite store lives in pkg/stats/store.
package stats

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
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

// Number returns a numeric field, and whether it is present.
func (o Object) Number(field string) (float64, bool) {
	switch v := o[field].(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case int:
		return float64(v), true
	case int64:
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
// entry's timestamp is copied from the first RTCStats object.
func NewSample(info SDKInfo, callID, participant string, seq int, now time.Time, r Report) Sample {
	ts := float64(now.UnixNano()) / 1e6
	if len(r.Objects) > 0 {
		if v, ok := r.Objects[0].Number("timestamp"); ok {
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
	objs = append(objs, r.Objects...)
	return Sample{CallID: callID, Participant: participant, Seq: seq, Time: now, Objects: objs}
}

// typeOrder is the order of stats types inside a sample: the connection
// first, then the media path from source to far end.
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
}

// SortObjects puts objects in file order: by type, then id.
func SortObjects(objs []Object) {
	rank := func(o Object) int {
		if r, ok := typeOrder[o.Type()]; ok {
			return r
		}
		return len(typeOrder)
	}
	sort.SliceStable(objs, func(i, j int) bool {
		ri, rj := rank(objs[i]), rank(objs[j])
		if ri != rj {
			return ri < rj
		}
		return objs[i].ID() < objs[j].ID()
	})
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
	return o, nil
}
