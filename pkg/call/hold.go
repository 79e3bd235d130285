package call

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/callstat/callstat/pkg/signaling"
)

// A connected call can be offered again ("update", a SIP re-INVITE): by
// the far end, whose offer with a=sendonly or a=inactive holds the call
// (this phone answers recvonly or inactive and stops sending) and whose
// offer with a=sendrecv resumes it; or by this phone (Hold, Resume), whose
// offer says a=sendonly while it holds (it goes on sending: what a PBX's
// music on hold would be) and a=sendrecv again to resume. Either side's
// hold makes the call On Hold; it is Connected again when neither holds.
// Stats keep their 1 Hz sampling throughout.

// ErrHoldFailed wraps why a Hold or Resume did not take effect.
var ErrHoldFailed = errors.New("hold or resume failed")

// holdRequest is a re-offer of ours waiting for the far end's answer.
type holdRequest struct {
	hold  bool
	reply chan error // nil: nobody waits
}

// Hold holds the call: a new offer with a=sendonly. It returns once the
// far end has answered (the call is then On Hold), or with the error that
// kept it from doing so.
func (c *Call) Hold(ctx context.Context) error { return c.ask(ctx, request{kind: reqHold}) }

// Resume ends this phone's hold: a new offer with a=sendrecv. The call is
// Connected again once the far end has answered, unless the far end
// holds it too.
func (c *Call) Resume(ctx context.Context) error { return c.ask(ctx, request{kind: reqResume}) }

// HoldState says who holds the call now.
func (c *Call) HoldState() Hold {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hold
}

// reoffer sends this phone's new offer; the answer completes it.
func (c *Call) reoffer(hold bool, reply chan error) {
	fail := func(err error) {
		if reply != nil {
			reply <- fmt.Errorf("%w: %w", ErrHoldFailed, err)
		}
	}
	if !c.State().live() {
		fail(fmt.Errorf("%w: the call is %s", ErrInvalidState, c.State()))
		return
	}
	if c.updating != nil {
		fail(fmt.Errorf("%w: a new offer is already in progress", ErrInvalidState))
		return
	}
	offer, err := c.pc.CreateOffer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(offer)
	}
	if err != nil {
		fail(fmt.Errorf("%w: creating the new offer: %v", ErrMediaFailure, err))
		return
	}
	sdp := offer.SDP
	if d := c.pc.LocalDescription(); d != nil {
		sdp = d.SDP // with the candidates gathered at the start
	}
	if hold {
		// pion offers its transceiver's direction; the far end must see
		// the hold. pion keeps sending, as a holder may (RFC 6337 §5.3).
		sdp = setDirection(sdp, "sendonly")
	}
	if err := c.p.send(signaling.Message{Type: signaling.TypeUpdate, CallID: c.id, SDP: sdp}); err != nil {
		fail(fmt.Errorf("%w: %v", ErrSignalingLost, err))
		return
	}
	c.updating = &holdRequest{hold: hold, reply: reply}
	c.log.Info("new offer sent", "hold", hold)
}

// onUpdateAnswer applies the far end's answer to our new offer.
func (c *Call) onUpdateAnswer(m signaling.Message) {
	req := c.updating
	c.updating = nil
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
		err = fmt.Errorf("%w: %w: unusable answer to the new offer: %v", ErrHoldFailed, ErrProtocol, err)
		c.log.Warn("new offer failed", "err", err)
		if req.reply != nil {
			req.reply <- err
		}
		return
	}
	c.mu.Lock()
	c.hold.Local = req.hold
	c.mu.Unlock()
	c.holdChanged("local")
	if req.reply != nil {
		req.reply <- nil
	}
}

// updateFailed ends a re-offer of ours that the far end refused.
func (c *Call) updateFailed(err error) {
	req := c.updating
	if req == nil {
		return
	}
	c.updating = nil
	if req.reply != nil {
		req.reply <- fmt.Errorf("%w: %w", ErrHoldFailed, err)
	}
}

// onUpdate answers the far end's new offer.
func (c *Call) onUpdate(m signaling.Message) {
	if !c.State().live() {
		c.log.Warn("new offer for a call that is not connected; ignored", "state", c.State().String())
		return
	}
	if c.updating != nil {
		// Offers crossed (glare). The far end's wins here; ours is
		// answered with an error by its signaling, or stays unanswered.
		c.log.Warn("offers crossed; answering the far end's")
	}
	err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP})
	var ans webrtc.SessionDescription
	if err == nil {
		ans, err = c.pc.CreateAnswer(nil)
	}
	if err == nil {
		err = c.pc.SetLocalDescription(ans)
	}
	if err != nil {
		c.log.Warn("cannot answer the far end's new offer", "err", err)
		return
	}
	sdp := ans.SDP
	if d := c.pc.LocalDescription(); d != nil {
		sdp = d.SDP
	}
	remote := direction(m.SDP)
	held := remote == "sendonly" || remote == "inactive"
	switch remote {
	case "sendonly":
		sdp = setDirection(sdp, "recvonly")
	case "inactive":
		sdp = setDirection(sdp, "inactive")
	}
	if err := c.p.send(signaling.Message{Type: signaling.TypeAnswer, CallID: c.id, SDP: sdp}); err != nil {
		c.log.Warn("could not answer the far end's new offer", "err", err)
		return
	}
	c.mu.Lock()
	c.hold.Remote = held
	c.mu.Unlock()
	c.holdChanged("remote")
}

// holdChanged moves the call between Connected and On Hold after the hold
// flags changed, and gates what it sends: nothing while the far end holds.
func (c *Call) holdChanged(by string) {
	h := c.HoldState()
	c.audio.hold(h.Remote)
	switch state := c.State(); {
	case h.held() && state == StateConnected:
		c.setState(StateOnHold, Transition{ReasonText: "held by the " + by + " side"}, nil)
	case !h.held() && state == StateOnHold:
		c.setState(StateConnected, Transition{ReasonText: "resumed by the " + by + " side"}, nil)
	}
}

// direction is the audio direction attribute of an SDP (sendrecv when
// none is given).
func direction(sdp string) string {
	for _, line := range strings.Split(sdp, "\n") {
		switch a := strings.TrimSpace(line); a {
		case "a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv":
			return strings.TrimPrefix(a, "a=")
		}
	}
	return "sendrecv"
}

// setDirection rewrites the direction attributes of an SDP.
func setDirection(sdp, dir string) string {
	lines := strings.Split(sdp, "\r\n")
	for i, l := range lines {
		switch l {
		case "a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv":
			lines[i] = "a=" + dir
		}
	}
	return strings.Join(lines, "\r\n")
}
