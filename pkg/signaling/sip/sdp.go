package sip

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Direction is an SDP media direction attribute.
type Direction string

// Media directions (RFC 3264 §6.1). A re-offer with sendonly or inactive
// from the far end puts a call on hold.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// MediaInfo is what CheckSDP learned from a description.
type MediaInfo struct {
	// Direction of the audio stream (sendrecv when the SDP says nothing).
	Direction Direction
	// Codecs lists the audio codecs offered, as "name/rate".
	Codecs []string
}

// CheckSDP reads an SDP body from a SIP message and checks that a WebRTC
// audio call can use it: an audio stream that is not rejected, with Opus
// among its codecs, DTLS-SRTP (a fingerprint), ICE credentials (ufrag and
// password) and a media stream identification (a=mid). The error wraps ErrUnusableSDP and names what is missing.
// It never panics, whatever the input.
func CheckSDP(body []byte) (MediaInfo, error) {
	var info MediaInfo
	if len(body) == 0 {
		return info, fmt.Errorf("%w: the body is empty", ErrUnusableSDP)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return info, fmt.Errorf("%w: not an SDP description: %v", ErrUnusableSDP, err)
	}
	var audio *sdp.MediaDescription
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			audio = m
			break
		}
	}
	if audio == nil {
		return info, fmt.Errorf("%w: no audio stream (no m=audio line with a non-zero port)", ErrUnusableSDP)
	}
	info.Direction = SendRecv
	for _, d := range []Direction{SendOnly, RecvOnly, Inactive, SendRecv} {
		if _, ok := audio.Attribute(string(d)); ok {
			info.Direction = d
			break
		}
		if _, ok := sd.Attribute(string(d)); ok {
			info.Direction = d
		}
	}
	opus := false
	for _, a := range audio.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		_, codec, _ := strings.Cut(a.Value, " ")
		info.Codecs = append(info.Codecs, codec)
		if name, _, _ := strings.Cut(codec, "/"); strings.EqualFold(name, "opus") {
			opus = true
		}
	}
	var missing []string
	if !opus {
		have := "none"
		if len(info.Codecs) > 0 {
			have = strings.Join(info.Codecs, ", ")
		}
		missing = append(missing, "an Opus audio codec (offered: "+have+")")
	}
	if !strings.Contains(strings.Join(audio.MediaName.Protos, "/"), "SAVPF") {
		missing = append(missing, "DTLS-SRTP transport (the audio is "+strings.Join(audio.MediaName.Protos, "/")+", not UDP/TLS/RTP/SAVPF; put a media relay such as rtpengine in front of plain-RTP endpoints)")
	}
	attr := func(key string) bool {
		if v, ok := audio.Attribute(key); ok && strings.TrimSpace(v) != "" {
			return true
		}
		v, ok := sd.Attribute(key)
		return ok && strings.TrimSpace(v) != ""
	}
	if !attr("fingerprint") {
		missing = append(missing, "a DTLS fingerprint (a=fingerprint)")
	}
	if v, ok := audio.Attribute("mid"); !ok || strings.TrimSpace(v) == "" {
		// RFC 8843; WebRTC stacks need it to match the stream (a media
		// relay adds it: rtpengine's generate-mid).
		missing = append(missing, "a media stream identification (a=mid)")
	}
	for _, key := range []string{"ice-ufrag", "ice-pwd"} {
		if !attr(key) {
			missing = append(missing, "ICE credentials (a="+key+")")
		}
	}
	if len(missing) > 0 {
		return info, fmt.Errorf("%w: missing %s", ErrUnusableSDP, strings.Join(missing, "; "))
	}
	return info, nil
}

// isSDP reports whether a message's Content-Type says SDP.
func isSDP(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/sdp")
}

// withDefaultCandidate puts each stream's default candidate in its m=
// port and c= address (RFC 8839 §4.2.1.1; JSEP, RFC 8829 §5.2.1, does it
// once gathering is complete, as browsers do). pion leaves the
// placeholders "9" and "IN IP4 0.0.0.0", which SIP servers read as an RFC
// 2543 hold: rtpengine, for one, then offers the far end a=sendonly. The
// default candidate is the one most likely to work (relay, then reflexive,
// then host; the highest priority among equals), of component 1. A
// description without candidates, or that does not parse, is returned as
// it is.
func withDefaultCandidate(body string) string {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(body); err != nil {
		return body
	}
	changed := false
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Port.Value == 0 {
			continue // rejected stream
		}
		best, bestRank := candidate{}, -1
		for _, a := range m.Attributes {
			if a.Key != "candidate" {
				continue
			}
			c, ok := parseCandidate(a.Value)
			if !ok || c.component != 1 || !strings.EqualFold(c.transport, "udp") {
				continue
			}
			if r := c.rank(); r > bestRank {
				best, bestRank = c, r
			}
		}
		if bestRank < 0 {
			continue
		}
		addrType := "IP4"
		if strings.Contains(best.addr, ":") {
			addrType = "IP6"
		}
		m.MediaName.Port.Value = best.port
		m.ConnectionInformation = &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType,
			Address: &sdp.Address{Address: best.addr}}
		changed = true
	}
	if !changed {
		return body
	}
	out, err := sd.Marshal()
	if err != nil {
		return body
	}
	return string(out)
}

// candidate is what withDefaultCandidate needs of an a=candidate line
// (RFC 8839 §5.1: foundation component transport priority address port
// "typ" type …).
type candidate struct {
	component int
	transport string
	priority  uint32
	addr      string
	port      int
	typ       string
}

func parseCandidate(v string) (candidate, bool) {
	f := strings.Fields(v)
	if len(f) < 8 || f[6] != "typ" {
		return candidate{}, false
	}
	comp, err1 := strconv.Atoi(f[1])
	prio, err2 := strconv.ParseUint(f[3], 10, 32)
	port, err3 := strconv.Atoi(f[5])
	if err1 != nil || err2 != nil || err3 != nil || port <= 0 || port > 65535 || strings.HasSuffix(f[4], ".local") {
		return candidate{}, false
	}
	return candidate{component: comp, transport: f[2], priority: uint32(prio), addr: f[4], port: port, typ: f[7]}, true
}

// rank orders candidates by how likely they are to work as the default.
func (c candidate) rank() int {
	typ := 0
	switch c.typ {
	case "relay":
		typ = 3
	case "srflx", "prflx":
		typ = 2
	case "host":
		typ = 1
	}
	return typ<<32 | int(c.priority)
}

// bundleForPion prepares a far end's offer for pion: pion keeps only the
// media sections of the offer's BUNDLE group and answers any other with
// port 0 (a rejected stream), and an offer from a SIP endpoint or a media
// relay (baresip, rtpengine 10) often has no a=group:BUNDLE at all. With a
// single audio stream such a group changes nothing on the wire, so one is
// added here, and the answer goes out without it (withoutBundle: RFC 8843
// §7.3, an answer may only bundle what was offered bundled). It reports
// whether it added the group; an offer that does not parse, has a group,
// or has other than one stream with a mid is returned as it is.
func bundleForPion(offer string) (string, bool) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil || len(sd.MediaDescriptions) != 1 {
		return offer, false
	}
	if v, ok := sd.Attribute("group"); ok && strings.HasPrefix(v, "BUNDLE") {
		return offer, false
	}
	mid, ok := sd.MediaDescriptions[0].Attribute("mid")
	if !ok || strings.TrimSpace(mid) == "" {
		return offer, false
	}
	sd.Attributes = append(sd.Attributes, sdp.NewAttribute("group", "BUNDLE "+strings.TrimSpace(mid)))
	out, err := sd.Marshal()
	if err != nil {
		return offer, false
	}
	return string(out), true
}

// withoutBundle removes a=group:BUNDLE from an answer (see bundleForPion).
func withoutBundle(answer string) string {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(answer); err != nil {
		return answer
	}
	attrs := sd.Attributes[:0]
	for _, a := range sd.Attributes {
		if a.Key == "group" && strings.HasPrefix(a.Value, "BUNDLE") {
			continue
		}
		attrs = append(attrs, a)
	}
	sd.Attributes = attrs
	out, err := sd.Marshal()
	if err != nil {
		return answer
	}
	return string(out)
}
