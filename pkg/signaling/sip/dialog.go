package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstat/callstat/pkg/signaling"
)

// byeWait bounds how long Close waits for BYEs in flight.
const byeWait = 2 * time.Second

// dialog is one call: an INVITE dialog (RFC 3261 §12), early or
// confirmed. Its fields are guarded by Conn.mu.
type dialog struct {
	callID    string
	outgoing  bool
	localURI  sip.Uri
	remoteURI sip.Uri
	localTag  string
	remoteTag string
	localSeq  uint32
	remoteSeq uint32
	target    sip.Uri  // the far end's Contact
	routes    []string // route set, Route header values in order

	confirmed bool   // a 2xx to the INVITE went or came
	localSDP  []byte // the last description we sent (offerless re-INVITEs get it again)

	// Outgoing.
	invite       *sip.Request // the INVITE as last sent (CANCEL copies it)
	ack          *sip.Request // the ACK of its 2xx, sent again on 2xx retransmissions
	provisional  bool         // a 1xx came: CANCEL may go
	cancelWanted bool         // the phone hung up before the answer
	cancelSent   bool
	tryingSent   bool
	ringingSent  bool

	// Incoming.
	inviteReq *sip.Request  // the INVITE received
	answered  bool          // our 2xx went
	pending   *pending2xx   // a 2xx to an INVITE waiting for its ACK
	acked     chan struct{} // closed by the ACK of the initial INVITE's 2xx

	// A new offer from the far end (re-INVITE or UPDATE) waiting for the
	// phone's answer, and whether ours is in flight.
	reoffer  *sip.Request
	updating bool
}

// pending2xx is a 2xx to an INVITE of the far end, sent again until its
// ACK arrives (RFC 3261 §13.3.1.4): a proxy may forward it over UDP.
type pending2xx struct {
	res   *sip.Response
	seq   uint32
	acked chan struct{}
}

// Send translates a message of the phone into SIP.
func (c *Conn) Send(m signaling.Message) error {
	switch m.Type {
	case signaling.TypeCall:
		return c.sendInvite(m)
	case signaling.TypeRinging:
		return c.sendRinging(m)
	case signaling.TypeAnswer:
		return c.sendAnswer(m)
	case signaling.TypeReject:
		return c.sendReject(m)
	case signaling.TypeEnd:
		return c.sendEnd(m)
	case signaling.TypeUpdate:
		return c.sendUpdate(m)
	case signaling.TypeCandidate:
		// Not trickle ICE: every description carries all its candidates
		// (the phone runs with NoTrickle).
		return nil
	default:
		return fmt.Errorf("sip: a phone cannot send %q over SIP", m.Type)
	}
}

func (c *Conn) lookup(callID string) *dialog {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialogs[callID]
}

func (c *Conn) forget(d *dialog) {
	c.mu.Lock()
	if c.dialogs[d.callID] == d {
		delete(c.dialogs, d.callID)
	}
	c.mu.Unlock()
}

// request builds a request of dialog d (or the initial INVITE).
func (c *Conn) request(d *dialog, method sip.RequestMethod, seq uint32) *sip.Request {
	req := sip.NewRequest(method, d.target)
	req.AppendHeader(c.newVia())
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	for _, r := range d.routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	req.AppendHeader(&sip.FromHeader{DisplayName: c.cfg.DisplayName, Address: d.localURI, Params: params("tag", d.localTag)})
	to := &sip.ToHeader{Address: d.remoteURI, Params: sip.NewParams()}
	if d.remoteTag != "" {
		to.Params.Add("tag", d.remoteTag)
	}
	req.AppendHeader(to)
	callID := sip.CallIDHeader(d.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.AppendHeader(sip.NewHeader("User-Agent", c.cfg.UserAgent))
	return req
}

// withOffer completes an INVITE or UPDATE that carries a description.
func (c *Conn) withOffer(req *sip.Request, sdp []byte) {
	req.AppendHeader(&sip.ContactHeader{Address: c.contact})
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Supported", "outbound"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(sdp)
}

// --- Outgoing calls --------------------------------------------------------

func (c *Conn) sendInvite(m signaling.Message) error {
	to, err := parseID(m.To, c.domain)
	if err != nil {
		c.goOwned(func() {
			c.emit(signaling.Message{Type: signaling.TypeError, CallID: m.CallID, Code: "bad_callee", Message: err.Error()})
		})
		return nil
	}
	from := c.aor
	if !c.cfg.Register && m.From != "" {
		// An anonymous caller: From as given.
		if u, err := parseID(m.From, c.domain); err == nil {
			from = u
		}
	}
	d := &dialog{callID: m.CallID, outgoing: true, localURI: from, remoteURI: to, localTag: sip.GenerateTagN(10),
		localSeq: 1, target: to, localSDP: []byte(m.SDP)}
	req := c.request(d, sip.INVITE, d.localSeq)
	c.withOffer(req, d.localSDP)
	c.mu.Lock()
	if _, dup := c.dialogs[m.CallID]; dup {
		c.mu.Unlock()
		return fmt.Errorf("sip: call id %s is in use", m.CallID)
	}
	d.invite = req
	c.dialogs[m.CallID] = d
	c.mu.Unlock()
	tx, err := c.send(req)
	if err != nil {
		c.forget(d)
		return err
	}
	c.log.Debug("INVITE sent", "call", d.callID, "to", to.String())
	if !c.goOwned(func() { c.runInvite(d, tx) }) {
		c.forget(d)
		return errClosing
	}
	return nil
}

// runInvite follows an INVITE transaction to its end.
func (c *Conn) runInvite(d *dialog, tx *clientTx) {
	authTried := false
	for {
		res, err := c.final(c.ctx, tx, func(res *sip.Response) { c.onProvisional(d, res) })
		if err != nil {
			c.forget(d)
			if !errors.Is(err, errClosing) {
				c.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: 408, Reason: "no answer from the SIP server to INVITE: " + err.Error()})
			}
			return
		}
		if res.IsSuccess() {
			c.onInvite2xx(d, res)
			return
		}
		c.ackNon2xx(d, res)
		c.mu.Lock()
		cancelled := d.cancelWanted
		c.mu.Unlock()
		if (res.StatusCode == 401 || res.StatusCode == 407) && !authTried && !cancelled {
			authTried = true
			if tx, err = c.resendWithAuth(d, res); err == nil {
				continue
			}
			c.forget(d)
			c.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: res.StatusCode, Reason: err.Error()})
			return
		}
		c.forget(d)
		if cancelled {
			return // the phone has ended the call already
		}
		reason := reasonText(res, res.Reason)
		if res.StatusCode == 401 || res.StatusCode == 407 {
			reason = fmt.Sprintf("%d %s again after digest authentication: the server refused the credentials of %q (wrong password or user?)",
				res.StatusCode, res.Reason, c.cfg.AuthUser)
		}
		c.log.Info("call refused", "call", d.callID, "status", res.StatusCode, "reason", reason)
		c.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: res.StatusCode, Reason: reason})
		return
	}
}

// resendWithAuth sends the INVITE again with credentials for res.
func (c *Conn) resendWithAuth(d *dialog, res *sip.Response) (*clientTx, error) {
	c.mu.Lock()
	d.localSeq++
	req := c.request(d, sip.INVITE, d.localSeq)
	c.mu.Unlock()
	c.withOffer(req, d.localSDP)
	if _, err := c.authorize(req, res); err != nil {
		return nil, err
	}
	c.mu.Lock()
	d.invite, d.provisional = req, false
	c.mu.Unlock()
	return c.send(req)
}

func (c *Conn) onProvisional(d *dialog, res *sip.Response) {
	c.mu.Lock()
	d.provisional = true
	sendCancel := d.cancelWanted && !d.cancelSent
	trying := !d.tryingSent
	d.tryingSent = true
	ringing := res.StatusCode > 100 && !d.ringingSent
	if ringing {
		d.ringingSent = true
	}
	c.mu.Unlock()
	if sendCancel {
		c.cancel(d)
		return
	}
	// The phone's caller goes Initiating → Initiated → Ringing: trying
	// first, whatever came first.
	if trying {
		c.emit(signaling.Message{Type: signaling.TypeTrying, CallID: d.callID})
	}
	if ringing {
		if res.StatusCode == 183 && len(res.Body()) > 0 {
			c.log.Debug("early media offered; callstat waits for the answer", "call", d.callID)
		}
		c.emit(signaling.Message{Type: signaling.TypeRinging, CallID: d.callID})
	}
}

// ackNon2xx acknowledges a failure response: part of the INVITE
// transaction (RFC 3261 §17.1.1.3), same branch and Request-URI.
func (c *Conn) ackNon2xx(d *dialog, res *sip.Response) {
	c.mu.Lock()
	inv := d.invite
	c.mu.Unlock()
	ack := sip.NewRequest(sip.ACK, inv.Recipient)
	ack.AppendHeader(sip.HeaderClone(inv.Via()))
	maxFwd := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&maxFwd)
	for _, h := range inv.GetHeaders("Route") {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	ack.AppendHeader(sip.HeaderClone(inv.From()))
	if to := res.To(); to != nil {
		ack.AppendHeader(sip.HeaderClone(to))
	}
	ack.AppendHeader(sip.HeaderClone(inv.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.ACK})
	ack.SetBody(nil)
	if err := c.write(ack); err != nil {
		c.log.Debug("could not send ACK", "err", err)
	}
}

// onInvite2xx confirms the dialog: ACK, then the answer to the phone.
func (c *Conn) onInvite2xx(d *dialog, res *sip.Response) {
	c.mu.Lock()
	if tag, ok := res.To().Params.Get("tag"); ok {
		d.remoteTag = tag
	}
	if ct := res.Contact(); ct != nil {
		d.target = ct.Address
	}
	rr := recordRoutes(res)
	for i, j := 0, len(rr)-1; i < j; i, j = i+1, j-1 {
		rr[i], rr[j] = rr[j], rr[i] // the caller uses them in reverse
	}
	d.routes = rr
	d.confirmed = true
	ack := c.request(d, sip.ACK, d.invite.CSeq().SeqNo)
	ack.SetBody(nil)
	d.ack = ack
	cancelled, trying := d.cancelWanted, !d.tryingSent
	d.tryingSent = true
	c.mu.Unlock()
	if err := c.write(ack); err != nil {
		c.log.Debug("could not send ACK", "err", err)
	}
	if cancelled {
		// The answer crossed our CANCEL: the call is over for the phone.
		c.bye(d, signaling.StatusCancelled, "caller hung up before the answer")
		return
	}
	if _, err := CheckSDP(res.Body()); err != nil {
		c.log.Warn("the answer is unusable; hanging up", "call", d.callID, "err", err)
		c.bye(d, 488, "unusable answer")
		c.emit(signaling.Message{Type: signaling.TypeError, CallID: d.callID, Code: "unusable_sdp",
			Message: "the SIP answer (" + strconv.Itoa(res.StatusCode) + " " + res.Reason + "): " + err.Error()})
		return
	}
	if trying {
		c.emit(signaling.Message{Type: signaling.TypeTrying, CallID: d.callID})
	}
	c.emit(signaling.Message{Type: signaling.TypeAnswer, CallID: d.callID, SDP: string(res.Body())})
}

// reack acknowledges again a 2xx retransmission (its ACK was lost on
// the way, or the 2xx crossed it).
func (c *Conn) reack(res *sip.Response) {
	c.mu.Lock()
	var ack *sip.Request
	if id := res.CallID(); id != nil {
		if d := c.dialogs[string(*id)]; d != nil {
			ack = d.ack
		}
	}
	c.mu.Unlock()
	if ack != nil {
		_ = c.write(ack)
	}
}

// cancel sends CANCEL for an INVITE that has had a provisional response
// (RFC 3261 §9.1: not before).
func (c *Conn) cancel(d *dialog) {
	c.mu.Lock()
	if d.cancelSent {
		c.mu.Unlock()
		return
	}
	d.cancelSent = true
	inv := d.invite
	c.mu.Unlock()
	req := sip.NewRequest(sip.CANCEL, inv.Recipient)
	req.AppendHeader(sip.HeaderClone(inv.Via()))
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	for _, h := range inv.GetHeaders("Route") {
		req.AppendHeader(sip.HeaderClone(h))
	}
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(inv.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	req.AppendHeader(sip.NewHeader("User-Agent", c.cfg.UserAgent))
	req.SetBody(nil)
	tx, err := c.send(req)
	if err != nil {
		c.log.Debug("could not send CANCEL", "err", err)
		return
	}
	c.goOwned(func() {
		ctx, cancel := context.WithTimeout(c.ctx, timerB)
		defer cancel()
		if res, err := c.final(ctx, tx, nil); err == nil && !res.IsSuccess() {
			c.log.Info("CANCEL refused", "call", d.callID, "status", res.StatusCode)
		}
	})
}

// --- Incoming calls --------------------------------------------------------

func (c *Conn) sendRinging(m signaling.Message) error {
	d := c.lookup(m.CallID)
	if d == nil || d.outgoing {
		return nil
	}
	c.mu.Lock()
	req, answered := d.inviteReq, d.answered
	c.mu.Unlock()
	if answered {
		return nil
	}
	return c.respondDialog(d, req, 180, "Ringing", nil)
}

func (c *Conn) sendAnswer(m signaling.Message) error {
	d := c.lookup(m.CallID)
	if d == nil {
		return fmt.Errorf("sip: no call %s to answer", m.CallID)
	}
	sdp := []byte(m.SDP)
	c.mu.Lock()
	req := d.reoffer
	initial := req == nil && !d.outgoing && !d.answered
	switch {
	case req != nil:
		d.reoffer = nil
	case initial:
		req = d.inviteReq
		d.answered, d.confirmed = true, true
	default:
		c.mu.Unlock()
		return fmt.Errorf("sip: call %s has no offer waiting for an answer", m.CallID)
	}
	d.localSDP = sdp
	c.mu.Unlock()
	if req.Method == sip.UPDATE {
		return c.respondDialog(d, req, 200, "OK", sdp)
	}
	return c.respond2xx(d, req, sdp, initial)
}

// respond2xx answers an INVITE with 200 and sends it again until the ACK.
func (c *Conn) respond2xx(d *dialog, req *sip.Request, sdp []byte, initial bool) error {
	res := c.dialogResponse(d, req, 200, "OK", sdp)
	p := &pending2xx{res: res, seq: req.CSeq().SeqNo, acked: make(chan struct{})}
	c.mu.Lock()
	d.pending = p
	c.mu.Unlock()
	if err := c.write(res); err != nil {
		return err
	}
	c.goOwned(func() {
		interval := timerT1
		deadline := time.NewTimer(64 * timerT1)
		defer deadline.Stop()
		for {
			t := time.NewTimer(interval)
			select {
			case <-p.acked:
				t.Stop()
				if initial {
					close(d.acked)
				}
				return
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-deadline.C:
				t.Stop()
				c.log.Warn("no ACK for our 200 OK; hanging up", "call", d.callID)
				c.bye(d, 408, "no ACK")
				c.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: 408, Reason: "no ACK for the 200 OK within " + (64 * timerT1).String()})
				return
			case <-t.C:
				_ = c.write(res)
				interval = min(2*interval, timerT2)
			}
		}
	})
	return nil
}

func (c *Conn) sendReject(m signaling.Message) error {
	d := c.lookup(m.CallID)
	if d == nil || d.outgoing {
		return nil
	}
	c.mu.Lock()
	req, answered := d.inviteReq, d.answered
	c.mu.Unlock()
	if answered {
		return fmt.Errorf("sip: call %s is answered; hang up instead", m.CallID)
	}
	status := m.Status
	if status < 300 || status > 699 {
		status = signaling.StatusDeclined
	}
	c.forget(d)
	var extra []sip.Header
	if m.Reason != "" {
		extra = append(extra, reasonHeader(status, m.Reason))
	}
	return c.respondDialog(d, req, status, phrase(status), nil, extra...)
}

// --- Both directions -------------------------------------------------------

// sendEnd hangs up: CANCEL before the answer of an outgoing call, BYE
// after it. A call the connection does not know (ended, or set up on a
// previous connection) is left alone: its media path carries the
// hang-up (RTCP BYE).
func (c *Conn) sendEnd(m signaling.Message) error {
	d := c.lookup(m.CallID)
	if d == nil {
		c.log.Debug("hang-up of a call this connection does not carry", "call", m.CallID)
		return nil
	}
	c.mu.Lock()
	confirmed, provisional := d.confirmed, d.provisional
	if d.outgoing && !confirmed {
		d.cancelWanted = true
	}
	c.mu.Unlock()
	switch {
	case confirmed:
		c.forget(d)
		c.byes.Add(1)
		if !c.goOwned(func() { defer c.byes.Done(); c.bye(d, m.Status, m.Reason) }) {
			c.byes.Done()
		}
	case d.outgoing && provisional:
		c.cancel(d)
	case d.outgoing:
		// CANCEL waits for the first provisional response (onProvisional).
	default:
		// An incoming call not answered: the phone rejects those.
		c.forget(d)
		return c.respondDialog(d, d.inviteReq, 487, "Request Terminated", nil)
	}
	return nil
}

// bye ends a confirmed dialog, answering one digest challenge.
func (c *Conn) bye(d *dialog, status int, reason string) {
	c.forget(d)
	if d.acked != nil {
		// The callee must not send BYE before the ACK (RFC 3261 §15).
		t := time.NewTimer(64 * timerT1)
		select {
		case <-d.acked:
		case <-t.C:
		case <-c.ctx.Done():
		}
		t.Stop()
	}
	c.mu.Lock()
	d.localSeq++
	req := c.request(d, sip.BYE, d.localSeq)
	c.mu.Unlock()
	if reason != "" && status >= 200 && status < 700 {
		req.AppendHeader(reasonHeader(status, reason))
	}
	req.SetBody(nil)
	ctx, cancel := context.WithTimeout(c.ctx, timerB)
	defer cancel()
	res, err := c.roundTrip(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		c.mu.Lock()
		d.localSeq++
		again := c.request(d, sip.BYE, d.localSeq)
		c.mu.Unlock()
		for _, h := range req.GetHeaders("Reason") {
			again.AppendHeader(sip.HeaderClone(h))
		}
		again.SetBody(nil)
		if _, aerr := c.authorize(again, res); aerr != nil {
			err = aerr
		} else {
			res, err = c.roundTrip(ctx, again)
		}
	}
	switch {
	case err != nil:
		c.log.Warn("BYE failed; the media path carries the hang-up", "call", d.callID, "err", err)
	case res.StatusCode == 481:
		c.log.Warn("the server no longer knows the call (BYE answered 481 Call/Transaction Does Not Exist); it is over here anyway", "call", d.callID)
	case !res.IsSuccess():
		c.log.Warn("BYE refused", "call", d.callID, "status", res.StatusCode, "reason", res.Reason)
	}
}

// sendUpdate sends the phone's new offer as a re-INVITE; its 2xx answer
// goes back to the phone as "answer".
func (c *Conn) sendUpdate(m signaling.Message) error {
	d := c.lookup(m.CallID)
	if d == nil {
		return fmt.Errorf("sip: no call %s to re-offer", m.CallID)
	}
	c.mu.Lock()
	if !d.confirmed || d.updating || d.reoffer != nil {
		c.mu.Unlock()
		return fmt.Errorf("sip: call %s cannot take a new offer now (not connected, or an offer is in progress)", m.CallID)
	}
	d.updating = true
	d.localSeq++
	req := c.request(d, sip.INVITE, d.localSeq)
	prevSDP := d.localSDP
	d.localSDP = []byte(m.SDP)
	c.mu.Unlock()
	c.withOffer(req, []byte(m.SDP))
	tx, err := c.send(req)
	if err != nil {
		c.mu.Lock()
		d.updating, d.localSDP = false, prevSDP
		c.mu.Unlock()
		return err
	}
	c.goOwned(func() { c.runReinvite(d, req, tx, prevSDP) })
	return nil
}

func (c *Conn) runReinvite(d *dialog, req *sip.Request, tx *clientTx, prevSDP []byte) {
	defer func() {
		c.mu.Lock()
		d.updating = false
		c.mu.Unlock()
	}()
	authTried := false
	for {
		res, err := c.final(c.ctx, tx, nil)
		if err != nil {
			if !errors.Is(err, errClosing) {
				c.emit(signaling.Message{Type: signaling.TypeError, CallID: d.callID, Code: "update_failed", Message: "re-INVITE: " + err.Error()})
			}
			return
		}
		if res.IsSuccess() {
			c.mu.Lock()
			ack := c.request(d, sip.ACK, req.CSeq().SeqNo)
			ack.SetBody(nil)
			d.ack = ack
			if ct := res.Contact(); ct != nil {
				d.target = ct.Address
			}
			c.mu.Unlock()
			_ = c.write(ack)
			c.emit(signaling.Message{Type: signaling.TypeAnswer, CallID: d.callID, SDP: string(res.Body())})
			return
		}
		if (res.StatusCode == 401 || res.StatusCode == 407) && !authTried {
			authTried = true
			c.mu.Lock()
			d.localSeq++
			again := c.request(d, sip.INVITE, d.localSeq)
			c.mu.Unlock()
			c.withOffer(again, req.Body())
			if _, err := c.authorize(again, res); err == nil {
				if tx, err = c.send(again); err == nil {
					req = again
					continue
				}
			}
		}
		c.mu.Lock()
		d.localSDP = prevSDP
		c.mu.Unlock()
		msg := signaling.Message{Type: signaling.TypeError, CallID: d.callID, Code: "update_failed",
			Message: fmt.Sprintf("re-INVITE answered %d %s", res.StatusCode, reasonText(res, res.Reason))}
		c.emit(msg)
		if res.StatusCode == 481 || res.StatusCode == 408 {
			// RFC 5407 §4: the dialog is gone.
			c.forget(d)
			c.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: res.StatusCode, Reason: "the far end no longer knows the call: re-INVITE answered " + strconv.Itoa(res.StatusCode)})
		}
		return
	}
}

// --- Requests from the far end -------------------------------------------

// onRequest handles a request from the server, on the reader.
func (c *Conn) onRequest(req *sip.Request) {
	if req.Via() == nil || req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil {
		c.log.Warn("ignoring a SIP request without Via, From, To, Call-ID or CSeq", "request", req.StartLine())
		return
	}
	if req.CSeq().MethodName != req.Method && !req.IsAck() && !req.IsCancel() {
		c.log.Warn("ignoring a SIP request whose CSeq method differs", "request", req.StartLine(), "cseq", req.CSeq().String())
		_ = c.respond(req, 400, "Bad Request", nil)
		return
	}
	switch req.Method {
	case sip.INVITE:
		if _, tagged := req.To().Params.Get("tag"); tagged {
			c.onReoffer(req)
			return
		}
		c.onInvite(req)
	case sip.UPDATE:
		c.onReoffer(req)
	case sip.ACK:
		c.onAck(req)
	case sip.BYE:
		c.onBye(req)
	case sip.CANCEL:
		c.onCancel(req)
	case sip.OPTIONS:
		_ = c.respond(req, 200, "OK", nil, sip.NewHeader("Allow", allowed),
			sip.NewHeader("Accept", "application/sdp"), sip.NewHeader("Supported", "outbound"))
	default:
		c.log.Debug("method not supported", "method", string(req.Method))
		_ = c.respond(req, 405, "Method Not Allowed", nil, sip.NewHeader("Allow", allowed))
	}
}

func (c *Conn) onInvite(req *sip.Request) {
	callID := string(*req.CallID())
	if d := c.lookup(callID); d != nil {
		if d.inviteReq != nil && d.inviteReq.CSeq().SeqNo == req.CSeq().SeqNo {
			return // a retransmission
		}
		_ = c.respond(req, 482, "Loop Detected", nil)
		return
	}
	if !isSDP(contentType(req)) || len(req.Body()) == 0 {
		c.log.Warn("refusing an INVITE without an SDP offer", "call", callID)
		_ = c.respond(req, 488, "Not Acceptable Here", nil, warning(c.viaHost, "callstat needs an SDP offer in the INVITE"))
		return
	}
	if _, err := CheckSDP(req.Body()); err != nil {
		c.log.Warn("refusing an INVITE whose offer is unusable", "call", callID, "err", err)
		_ = c.respond(req, 488, "Not Acceptable Here", nil, warning(c.viaHost, err.Error()))
		return
	}
	_ = c.respond(req, 100, "Trying", nil)
	fromTag, _ := req.From().Params.Get("tag")
	d := &dialog{callID: callID, localURI: req.To().Address, remoteURI: req.From().Address,
		localTag: sip.GenerateTagN(10), remoteTag: fromTag, remoteSeq: req.CSeq().SeqNo, localSeq: 1,
		routes: recordRoutes(req), inviteReq: req, acked: make(chan struct{})}
	if ct := req.Contact(); ct != nil {
		d.target = ct.Address
	} else {
		d.target = req.From().Address
	}
	c.mu.Lock()
	c.dialogs[callID] = d
	c.mu.Unlock()
	from, err := NormalizeID(req.From().Address.String(), "")
	if err != nil {
		from = req.From().Address.String()
	}
	c.log.Info("incoming call", "call", callID, "from", from)
	c.emitFromReader(signaling.Message{Type: signaling.TypeIncoming, CallID: callID, From: from, To: c.id, SDP: string(req.Body())})
}

// matchDialog finds the dialog of an in-dialog request from the far end.
func (c *Conn) matchDialog(req *sip.Request) *dialog {
	d := c.lookup(string(*req.CallID()))
	if d == nil {
		return nil
	}
	toTag, _ := req.To().Params.Get("tag")
	fromTag, _ := req.From().Params.Get("tag")
	if toTag != d.localTag || (d.remoteTag != "" && fromTag != d.remoteTag) {
		return nil
	}
	return d
}

// onReoffer handles a re-INVITE or UPDATE: the far end's new offer goes
// to the phone as "update"; an offerless re-INVITE (a session refresh)
// gets our current description again.
func (c *Conn) onReoffer(req *sip.Request) {
	d := c.matchDialog(req)
	if d == nil {
		_ = c.respond(req, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	c.mu.Lock()
	if req.CSeq().SeqNo <= d.remoteSeq && d.remoteSeq != 0 {
		c.mu.Unlock()
		return // a retransmission
	}
	d.remoteSeq = req.CSeq().SeqNo
	busy := d.updating || d.reoffer != nil
	confirmed := d.confirmed
	local := d.localSDP
	c.mu.Unlock()
	switch {
	case busy:
		_ = c.respondDialog(d, req, 491, "Request Pending", nil)
		return
	case len(req.Body()) == 0:
		if req.Method == sip.UPDATE {
			_ = c.respondDialog(d, req, 200, "OK", nil)
			return
		}
		_ = c.respond2xx(d, req, local, false)
		return
	case !confirmed:
		_ = c.respondDialog(d, req, 491, "Request Pending", nil)
		return
	}
	if _, err := CheckSDP(req.Body()); err != nil {
		c.log.Warn("refusing an unusable re-offer", "call", d.callID, "err", err)
		_ = c.respondDialog(d, req, 488, "Not Acceptable Here", nil, warning(c.viaHost, err.Error()))
		return
	}
	c.mu.Lock()
	if ct := req.Contact(); ct != nil {
		d.target = ct.Address
	}
	d.reoffer = req
	c.mu.Unlock()
	c.log.Info("new offer from the far end", "call", d.callID, "method", string(req.Method))
	c.emitFromReader(signaling.Message{Type: signaling.TypeUpdate, CallID: d.callID, SDP: string(req.Body())})
}

func (c *Conn) onAck(req *sip.Request) {
	d := c.lookup(string(*req.CallID()))
	if d == nil {
		return // the ACK of a failure response, or of an ended call
	}
	c.mu.Lock()
	p := d.pending
	if p != nil && p.seq == req.CSeq().SeqNo {
		d.pending = nil
	} else {
		p = nil
	}
	c.mu.Unlock()
	if p != nil {
		close(p.acked)
	}
}

func (c *Conn) onBye(req *sip.Request) {
	d := c.matchDialog(req)
	if d == nil {
		_ = c.respond(req, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	c.forget(d)
	_ = c.respond(req, 200, "OK", nil)
	c.log.Info("far end hung up (BYE)", "call", d.callID)
	c.emitFromReader(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: signaling.StatusNormal,
		Reason: reasonText(req, "far end hung up")})
}

func (c *Conn) onCancel(req *sip.Request) {
	d := c.lookup(string(*req.CallID()))
	if d == nil || d.outgoing {
		_ = c.respond(req, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	_ = c.respond(req, 200, "OK", nil)
	c.mu.Lock()
	answered := d.answered
	c.mu.Unlock()
	if answered {
		return // too late: the 200 went; the caller sends BYE
	}
	c.forget(d)
	_ = c.respondDialog(d, d.inviteReq, 487, "Request Terminated", nil)
	c.log.Info("caller cancelled", "call", d.callID)
	c.emitFromReader(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: signaling.StatusCancelled,
		Reason: reasonText(req, "caller cancelled")})
}

// dialogResponse builds a response of dialog d: with our To tag, and our
// Contact and description in a 2xx to INVITE and in 18x.
func (c *Conn) dialogResponse(d *dialog, req *sip.Request, code int, reason string, sdp []byte, extra ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	// Our tag on every response but 100 to a request outside the dialog
	// (sipgo makes up a new one per response; a dialog needs one).
	if to := res.To(); to != nil && code > 100 {
		if _, tagged := req.To().Params.Get("tag"); !tagged {
			if to.Params == nil {
				to.Params = sip.NewParams()
			}
			to.Params.Add("tag", d.localTag)
		}
	}
	if req.Method == sip.INVITE && code > 100 && code < 300 {
		res.AppendHeader(&sip.ContactHeader{Address: c.contact})
		res.AppendHeader(sip.NewHeader("Allow", allowed))
		res.AppendHeader(sip.NewHeader("Supported", "outbound"))
	}
	for _, h := range extra {
		res.AppendHeader(h)
	}
	res.AppendHeader(sip.NewHeader("User-Agent", c.cfg.UserAgent))
	if sdp != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	res.SetBody(sdp)
	return res
}

func (c *Conn) respondDialog(d *dialog, req *sip.Request, code int, reason string, sdp []byte, extra ...sip.Header) error {
	return c.write(c.dialogResponse(d, req, code, reason, sdp, extra...))
}

// recordRoutes lists the Record-Route values of a message in order.
func recordRoutes(m interface{ GetHeaders(string) []sip.Header }) []string {
	var out []string
	for _, h := range m.GetHeaders("Record-Route") {
		for _, v := range splitHeaderValues(h.Value()) {
			out = append(out, v)
		}
	}
	return out
}

// splitHeaderValues splits a comma-separated header value, leaving commas
// inside <> and quotes alone.
func splitHeaderValues(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case '<':
			if !quoted {
				depth++
			}
		case '>':
			if !quoted && depth > 0 {
				depth--
			}
		case ',':
			if !quoted && depth == 0 {
				if s := strings.TrimSpace(v[start:i]); s != "" {
					out = append(out, s)
				}
				start = i + 1
			}
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

func contentType(m interface{ GetHeader(string) sip.Header }) string {
	if h := m.GetHeader("Content-Type"); h != nil {
		return h.Value()
	}
	return ""
}

// reasonHeader is an RFC 3326 Reason header.
func reasonHeader(status int, text string) sip.Header {
	text = strings.NewReplacer(`"`, "'", "\r", " ", "\n", " ").Replace(text)
	return sip.NewHeader("Reason", fmt.Sprintf(`SIP;cause=%d;text="%s"`, status, text))
}

// warning is a Warning header (RFC 3261 §20.43, code 399: miscellaneous).
func warning(agent, text string) sip.Header {
	text = strings.NewReplacer(`"`, "'", "\r", " ", "\n", " ").Replace(text)
	return sip.NewHeader("Warning", fmt.Sprintf(`399 %s "%s"`, agent, text))
}

// phrase is the standard reason phrase of a status.
func phrase(code int) string {
	switch code {
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	case 606:
		return "Not Acceptable"
	}
	return signaling.StatusText(code)
}
