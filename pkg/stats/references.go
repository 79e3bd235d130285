package stats

import (
	"errors"
	"fmt"
	"sort"
)

// ErrTrackNotFound means a report holds no stream of the track asked for
// (the SDK's call:7 "invalid parameter").
var ErrTrackNotFound = errors.New("no stream of this track in the report")

// ReferenceFields are the W3C fields whose value is the id of another
// object of the same report.
var ReferenceFields = []string{
	"transportId",
	"codecId",
	"localId",
	"remoteId",
	"mediaSourceId",
	"playoutId",
	"selectedCandidatePairId",
	"localCandidateId",
	"remoteCandidateId",
	"localCertificateId",
	"remoteCertificateId",
	"issuerCertificateId",
	"rtcpTransportStatsId",
}

// References returns the ids o refers to, by field, for the fields that
// are present with a string value.
func References(o Object) map[string]string {
	refs := map[string]string{}
	for _, f := range ReferenceFields {
		if v, ok := o[f].(string); ok {
			refs[f] = v
		}
	}
	return refs
}

// danglingReferences lists every reference in a report (one sample) that
// names no object of the same report, as "<id>.<field> -> <target>". An
// empty reference counts as dangling: W3C leaves an unknown reference out
// rather than empty.
func danglingReferences(objs []Object) []string {
	ids := make(map[string]bool, len(objs))
	for _, o := range objs {
		ids[o.ID()] = true
	}
	var out []string
	for _, o := range objs {
		refs := References(o)
		fields := make([]string, 0, len(refs))
		for f := range refs {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			if target := refs[f]; !ids[target] || target == "" {
				out = append(out, fmt.Sprintf("%s.%s -> %q", o.ID(), f, target))
			}
		}
	}
	return out
}

// NarrowToTrack narrows a report (one sample) to one track, local or
// remote, as a browser's getStats(track) does: the streams of the track
// (outbound-rtp whose media-source has that trackIdentifier, inbound-rtp
// with that trackIdentifier), and every object they refer to, directly or
// indirectly (codec, transport, selected candidate pair, candidates,
// certificates, the far end's view of each stream). The SDK entry, when
// present, stays at the head. Objects keep their order. It wraps
// ErrTrackNotFound when no stream of the track is in the report.
func NarrowToTrack(objs []Object, trackID string) ([]Object, error) {
	byID := make(map[string]Object, len(objs))
	for _, o := range objs {
		byID[o.ID()] = o
	}
	keep := map[string]bool{}
	var queue []string
	add := func(id string) {
		if _, exists := byID[id]; exists && !keep[id] {
			keep[id] = true
			queue = append(queue, id)
		}
	}
	sources := map[string]bool{}
	for _, o := range objs {
		if o.Type() == "media-source" && o["trackIdentifier"] == trackID {
			sources[o.ID()] = true
		}
	}
	for _, o := range objs {
		switch o.Type() {
		case "outbound-rtp":
			if id, _ := o["mediaSourceId"].(string); sources[id] {
				add(o.ID())
			}
		case "inbound-rtp":
			if o["trackIdentifier"] == trackID {
				add(o.ID())
			}
		}
	}
	if len(keep) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrTrackNotFound, trackID)
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, target := range References(byID[id]) {
			add(target)
		}
	}
	out := make([]Object, 0, len(keep)+1)
	for i, o := range objs {
		if (i == 0 && IsSDKEntry(o)) || keep[o.ID()] {
			out = append(out, o)
		}
	}
	return out, nil
}
