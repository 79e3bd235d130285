package call

import (
	"strconv"
	"strings"
)

// What the session descriptions say, as the stats report needs it: read
// once both descriptions are applied (callstat never renegotiates), not
// each second.

// sdpMedia is one m= section of a description.
type sdpMedia struct {
	kind    string // "audio", "video", ...
	mid     string
	formats []uint8 // payload types, in the m= line's order
	rtpmap  map[uint8]string
	fmtp    map[uint8]string
	ufrag   string // the section's a=ice-ufrag, else the session's
}

// parseSDP returns a description's media sections and its session-level
// ICE username fragment. It reads only what the report uses and skips
// what it does not understand.
func parseSDP(sdp string) (media []*sdpMedia, ufrag string) {
	var cur *sdpMedia
	for line := range strings.SplitSeq(sdp, "\n") {
		line = strings.TrimRight(line, "\r")
		if rest, ok := strings.CutPrefix(line, "m="); ok {
			f := strings.Fields(rest)
			cur = &sdpMedia{rtpmap: map[uint8]string{}, fmtp: map[uint8]string{}, ufrag: ufrag}
			if len(f) > 0 {
				cur.kind = f[0]
			}
			for _, pt := range f[min(3, len(f)):] {
				if n, err := strconv.ParseUint(pt, 10, 7); err == nil {
					cur.formats = append(cur.formats, uint8(n))
				}
			}
			media = append(media, cur)
			continue
		}
		attr, ok := strings.CutPrefix(line, "a=")
		if !ok {
			continue
		}
		name, value, _ := strings.Cut(attr, ":")
		switch {
		case name == "ice-ufrag" && cur == nil:
			ufrag = value
		case cur == nil:
		case name == "ice-ufrag":
			cur.ufrag = value
		case name == "mid":
			cur.mid = value
		case name == "rtpmap" || name == "fmtp":
			pt, params, _ := strings.Cut(value, " ")
			n, err := strconv.ParseUint(pt, 10, 7)
			if err != nil {
				continue
			}
			if name == "rtpmap" {
				cur.rtpmap[uint8(n)] = strings.TrimSpace(params)
			} else {
				cur.fmtp[uint8(n)] = strings.TrimSpace(params)
			}
		}
	}
	return media, ufrag
}

// codecDesc is a codec as one description states it.
type codecDesc struct {
	pt       uint8
	mimeType string // "audio/opus"
	clock    uint32
	channels uint16 // 0 for video
	fmtp     string
}

// codecOf reads payload type pt of a media section; false without an
// rtpmap for it (or with one that does not parse).
func (m *sdpMedia) codecOf(pt uint8) (codecDesc, bool) {
	rtpmap, ok := m.rtpmap[pt]
	if !ok {
		return codecDesc{}, false
	}
	parts := strings.Split(rtpmap, "/")
	if len(parts) < 2 || parts[0] == "" {
		return codecDesc{}, false
	}
	clock, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return codecDesc{}, false
	}
	c := codecDesc{pt: pt, mimeType: m.kind + "/" + parts[0], clock: uint32(clock), fmtp: m.fmtp[pt]}
	if m.kind == "audio" {
		c.channels = 1 // RFC 4566: one channel unless the rtpmap says more
		if len(parts) > 2 {
			if ch, err := strconv.ParseUint(parts[2], 10, 16); err == nil && ch > 0 {
				c.channels = uint16(ch)
			}
		}
	}
	return c, true
}

// negotiatedCodec is one codec stats object: a payload type as the local
// description states it (what we receive with it) or as the remote one
// does (what we send with it), or both when they agree.
type negotiatedCodec struct {
	id string
	codecDesc
}

// negotiatedCodecs are the codec objects of a call, and which one each
// payload type uses in each direction.
type negotiatedCodecs struct {
	objs []negotiatedCodec
	recv map[uint8]string // payload type -> codec id, for what we receive
	send map[uint8]string // payload type -> codec id, for what we send
}

// negotiate returns the codecs negotiated by two descriptions: the
// payload types that both list for the same media section (by mid, else
// by position). A payload type whose format parameters differ between
// the two (a far end that asks for stereo, say, from one that does not)
// has two objects, ids suffixed -recv (our description: what we asked to
// receive) and -send (the far end's: what it asked us to send), as
// browsers report them.
func negotiate(localSDP, remoteSDP string) negotiatedCodecs {
	local, _ := parseSDP(localSDP)
	remote, _ := parseSDP(remoteSDP)
	n := negotiatedCodecs{recv: map[uint8]string{}, send: map[uint8]string{}}
	seen := map[string]bool{}
	add := func(id string, c codecDesc) {
		if !seen[id] {
			seen[id] = true
			n.objs = append(n.objs, negotiatedCodec{id: id, codecDesc: c})
		}
	}
	for k, lm := range local {
		rm := matchingMedia(remote, lm, k)
		if rm == nil {
			continue
		}
		for _, pt := range lm.formats {
			lc, lok := lm.codecOf(pt)
			rc, rok := rm.codecOf(pt)
			if !lok || !rok || !strings.EqualFold(lc.mimeType, rc.mimeType) || lc.clock != rc.clock {
				continue
			}
			base := "codec-" + strconv.Itoa(int(pt))
			if lc == rc {
				add(base, lc)
				n.recv[pt], n.send[pt] = base, base
				continue
			}
			add(base+"-recv", lc)
			add(base+"-send", rc)
			n.recv[pt], n.send[pt] = base+"-recv", base+"-send"
		}
	}
	return n
}

// matchingMedia is the section of remote that answers local section k:
// the one with the same mid, else the one at the same position.
func matchingMedia(remote []*sdpMedia, local *sdpMedia, k int) *sdpMedia {
	if local.mid != "" {
		for _, m := range remote {
			if m.mid == local.mid {
				return m
			}
		}
	}
	if k < len(remote) && remote[k].kind == local.kind {
		return remote[k]
	}
	return nil
}
