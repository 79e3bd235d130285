package call

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"

	"github.com/callstat/callstat/pkg/signaling"
)

// A connected call that hangs up says so twice: "end" through the signaling
// server, and an RTCP BYE (RFC 3550 §6.6) on the media path whose reason
// text carries the status and reason. The BYE reaches the far end even
// when the server is down, or was restarted and knows nothing of the call:
// each side ends on whichever arrives first, with the same status and
// reason. docs/call-states.md has the whole picture.

// byePrefix opens the reason of callstat's BYE: "callstat <status> <reason>".
const byePrefix = "callstat "

// maxByeReason is RTCP's limit on a BYE reason (one length octet).
const maxByeReason = 255

// byeReason encodes a hang-up as a BYE reason.
func byeReason(status int, reason string) string {
	text := byePrefix + strconv.Itoa(status) + " " + reason
	if len(text) <= maxByeReason {
		return text
	}
	cut := maxByeReason
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut]
}

// parseBye decodes a BYE reason. A BYE from another implementation (no
// prefix) is a normal hang-up.
func parseBye(reason string) Transition {
	if rest, ok := strings.CutPrefix(reason, byePrefix); ok {
		code, text, _ := strings.Cut(rest, " ")
		if status, err := strconv.Atoi(code); err == nil && status >= 100 && status < 700 {
			return Transition{StatusCode: status, ReasonText: text}
		}
	}
	t := Transition{StatusCode: signaling.StatusNormal, ReasonText: "far end sent RTCP BYE"}
	if reason != "" {
		t.ReasonText += ": " + reason
	}
	return t
}

// sendBye sends the in-band hang-up. Losing it is not fatal: the server's
// "end", the DTLS close_notify that follows (remoteCloseGrace) and at
// worst the ICE failure timeout end the far end's call too.
func (c *Call) sendBye(status int, reason string) {
	if c.pc == nil || c.sender == nil {
		return
	}
	params := c.sender.GetParameters()
	if len(params.Encodings) == 0 {
		return
	}
	bye := &rtcp.Goodbye{Sources: []uint32{uint32(params.Encodings[0].SSRC)}, Reason: byeReason(status, reason)}
	if err := c.pc.WriteRTCP([]rtcp.Packet{bye}); err != nil {
		c.log.Debug("could not send RTCP BYE", "err", err)
	}
}

// readRTCP drains an RTCP stream (callstat's statistics and XR interceptors
// depend on it being read) and hands the far end's BYE to the call.
func (c *Call) readRTCP(read func() ([]rtcp.Packet, interceptor.Attributes, error)) {
	for {
		pkts, _, err := read()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			if bye, ok := pkt.(*rtcp.Goodbye); ok {
				t := parseBye(bye.Reason)
				c.post(pcEvent{bye: &t})
			}
		}
	}
}
