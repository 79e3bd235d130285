package sip

import (
	"fmt"
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
// among its codecs, DTLS-SRTP (a fingerprint) and ICE credentials (ufrag
// and password). The error wraps ErrUnusableSDP and names what is missing.
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
