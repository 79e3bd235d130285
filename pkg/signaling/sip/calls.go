package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/callstat/callstat/pkg/signaling"
)

// dialog is one call: a sipgo dialog session (a DialogClientSession for
// our INVITE, a DialogServerSession for the far end's) and what the user
// agent keeps around it. Fields are guarded by Agent.mu.
type dialog struct {
	callID   string
	outgoing bool
	done     chan struct{} // closed when the call is forgotten
	gone     bool

	cli       *sipgo.DialogClientSession
	srv       *sipgo.DialogServerSession
	localTag  string
	remoteTag string
	remoteSeq uint32  // CSeq of the far end's last request
	target    sip.Uri // the far end's Contact: Request-URI of our requests
	confirmed bool    // a 2xx to the INVITE went or came
	localSDP  []byte  // the last description we sent
	noBundle  bool    // the far end's offer had no BUNDLE group (bundleForPion)

	// Outgoing.
	stopInvite   context.CancelCauseFunc // makes sipgo's WaitAnswer CANCEL
	inviteDone   bool                    // the INVITE's goroutine has returned
	cancelWanted bool                    // the phone hung up before the answer
	tryingSent   bool
	ringingSent  bool
	rungOnWire   bool // a 180/183 arrived (noteRinging)

	// Incoming.
	decisions chan decision // the phone's ringing/answer/reject, for the INVITE's handler
	served    chan struct{} // closed when the INVITE's handler returns
	answered  bool
	cancel    string        // the CANCEL's reason text
	answerOut chan struct{} // closed once the 2xx went and its ACK came (or not)

	// A new offer of the far end (re-INVITE, UPDATE) waiting for the
	// phone's answer; our own re-INVITE in flight; our 2xx to a re-INVITE
	// waiting for its ACK.
	reoffer  *reoffer
	updating bool
	pending  *pendingAck
}

type decisionKind int

const (
	decRinging decisionKind = iota
	decAnswer
	decReject
)

// decision is what the phone says about an incoming INVITE.
type decision struct {
	kind   decisionKind
	sdp    []byte
	status int
	reason string
}

type reoffer struct {
	req    *sip.Request
	answer chan []byte
}

// pendingAck is our 2xx to a re-INVITE, sent again until its ACK arrives
// (RFC 3261 §13.3.1.4: a proxy may forward it over UDP).
type pendingAck struct {
	seq   uint32
	acked chan struct{}
}

// dialogSession is what both kinds of sipgo dialog session offer for
// requests within the dialog: sipgo fills From, To, Call-ID, CSeq, Route
// and Contact (RFC 3261 §12.2.1.1).
type dialogSession interface {
	TransactionRequest(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error)
	WriteRequest(req *sip.Request) error
	WriteBye(ctx context.Context, bye *sip.Request) error
}

// session is the dialog's sipgo session (under Agent.mu).
func (d *dialog) session() dialogSession {
	if d.outgoing {
		if d.cli == nil {
			return nil
		}
		return d.cli
	}
	if d.srv == nil {
		return nil
	}
	return d.srv
}

// Byes and re-INVITEs wait at most this long for their final response
// (sipgo's Timer F ends them sooner).
func requestTimeout() time.Duration { return 64 * sip.T1 }

// reofferTimeout bounds the wait for the phone's answer to a new offer.
const reofferTimeout = 30 * time.Second

// send translates a message of the phone into SIP.
func (a *Agent) send(m signaling.Message) error {
	if m.SDP != "" {
		m.SDP = withDefaultCandidate(m.SDP)
	}
	switch m.Type {
	case signaling.TypeCall:
		return a.sendInvite(m)
	case signaling.TypeRinging:
		return a.sendDecision(m, decision{kind: decRinging})
	case signaling.TypeAnswer:
		return a.sendAnswer(m)
	case signaling.TypeReject:
		return a.sendReject(m)
	case signaling.TypeEnd:
		return a.sendEnd(m)
	case signaling.TypeUpdate:
		return a.sendUpdate(m)
	case signaling.TypeCandidate:
		// Not trickle ICE: every description carries all its candidates
		// (the phone runs with NoTrickle).
		return nil
	default:
		return fmt.Errorf("sip: a phone cannot send %q over SIP", m.Type)
	}
}

func (a *Agent) lookup(callID string) *dialog {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dialogs[callID]
}

// forget removes a call; its in-dialog requests get 481 from now on.
func (a *Agent) forget(d *dialog) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dialogs[d.callID] == d {
		delete(a.dialogs, d.callID)
	}
	if !d.gone {
		d.gone = true
		close(d.done)
	}
}

// matchDialog finds the dialog of an in-dialog request from the far end.
func (a *Agent) matchDialog(req *sip.Request) *dialog {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.dialogs[req.CallID().Value()]
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

// newRequest is a request of ours with our Via and User-Agent; sipgo
// completes it (a dialog's request) or the caller does.
func (a *Agent) newRequest(method sip.RequestMethod, target sip.Uri) *sip.Request {
	req := sip.NewRequest(method, target)
	req.AppendHeader(a.newVia())
	req.AppendHeader(sip.NewHeader("User-Agent", a.cfg.UserAgent))
	req.SetBody(nil)
	return req
}

// withOffer completes an INVITE or UPDATE that carries a description.
func (a *Agent) withOffer(req *sip.Request, sdp []byte) {
	req.AppendHeader(&sip.ContactHeader{Address: a.contact})
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Supported", "outbound"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(sdp)
}

// --- Outgoing calls --------------------------------------------------------

func (a *Agent) sendInvite(m signaling.Message) error {
	to, err := parseID(m.To, a.domain)
	if err != nil {
		a.goOwned(func() {
			a.emit(signaling.Message{Type: signaling.TypeError, CallID: m.CallID, Code: "bad_callee", Message: err.Error()})
		})
		return nil
	}
	from := a.aor
	if !a.cfg.Register && m.From != "" {
		// An anonymous caller: From as given.
		if u, err := parseID(m.From, a.domain); err == nil {
			from = u
		}
	}
	d := &dialog{callID: m.CallID, outgoing: true, localTag: sip.GenerateTagN(10), target: to,
		localSDP: []byte(m.SDP), done: make(chan struct{})}
	req := a.newRequest(sip.INVITE, to)
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(&sip.FromHeader{DisplayName: a.cfg.DisplayName, Address: from, Params: params("tag", d.localTag)})
	req.AppendHeader(&sip.ToHeader{Address: to, Params: sip.NewParams()})
	callID := sip.CallIDHeader(m.CallID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	a.withOffer(req, d.localSDP)

	ctx, stop := context.WithCancelCause(a.ctx)
	d.stopInvite = stop
	a.mu.Lock()
	if _, dup := a.dialogs[m.CallID]; dup {
		a.mu.Unlock()
		stop(nil)
		return fmt.Errorf("sip: call id %s is in use", m.CallID)
	}
	a.dialogs[m.CallID] = d
	a.mu.Unlock()
	sess, err := a.dua.WriteInvite(ctx, req)
	if err != nil {
		a.forget(d)
		stop(nil)
		return fmt.Errorf("sip: sending INVITE: %w", err)
	}
	a.mu.Lock()
	d.cli = sess
	a.mu.Unlock()
	a.log.Debug("INVITE sent", "call", d.callID, "to", to.String())
	if !a.goOwned(func() { a.runInvite(ctx, d, req, sess) }) {
		a.forget(d)
		stop(nil)
		return fmt.Errorf("%w: the SIP agent is closing", signaling.ErrClosed)
	}
	return nil
}

// runInvite follows an INVITE with sipgo's WaitAnswer: provisional
// responses, digest challenges, the answer or the refusal, Timer B, and
// the CANCEL when the phone hangs up first.
func (a *Agent) runInvite(ctx context.Context, d *dialog, req *sip.Request, sess *sipgo.DialogClientSession) {
	defer func() {
		a.mu.Lock()
		d.inviteDone = true
		if d.cancelWanted {
			a.hangups.Done()
		}
		a.mu.Unlock()
		d.stopInvite(nil)
	}()
	authTried := false
	for {
		err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
			if res.IsProvisional() {
				a.onProvisional(d, res)
			}
			return nil
		}})
		if err == nil {
			a.onInvite2xx(d, sess)
			return
		}
		if ctx.Err() != nil {
			// The phone hung up: WaitAnswer sent CANCEL (once a
			// provisional response allowed it) and waited for the 487. An
			// answer that crossed the CANCEL is acknowledged and hung up.
			if res := sess.InviteResponse; res != nil && res.IsSuccess() && !errors.Is(context.Cause(ctx), sipgo.WaitAnswerForceCancelErr) {
				a.mu.Lock()
				d.remoteTag, _ = res.To().Params.Get("tag")
				d.confirmed = true
				a.mu.Unlock()
				a.ack(d, sess)
				a.bye(d, signaling.StatusCancelled, "caller hung up before the answer")
			}
			a.forget(d)
			return
		}
		var dr *sipgo.ErrDialogResponse
		if !errors.As(err, &dr) {
			// No final response: Timer B, or the WebSocket dropped.
			a.forget(d)
			a.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: signaling.StatusNoAnswer,
				Reason: "no answer from the SIP server to INVITE: " + txError(err).Error()})
			return
		}
		res := dr.Res
		if isChallenge(res) && !authTried {
			authTried = true
			again, err := a.reauthorize(req, res)
			if err == nil {
				var next *sipgo.DialogClientSession
				if next, err = a.dua.WriteInvite(ctx, again); err == nil {
					a.mu.Lock()
					d.cli = next
					a.mu.Unlock()
					req, sess = again, next
					continue
				}
			}
			a.forget(d)
			a.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: res.StatusCode, Reason: err.Error()})
			return
		}
		a.forget(d)
		reason := reasonText(res, res.Reason)
		if isChallenge(res) {
			reason = fmt.Sprintf("%s again after digest authentication: the server refused the credentials of %q (wrong password or user?)",
				statusText(res), a.cfg.AuthUser)
		}
		a.log.Info("call refused", "call", d.callID, "status", res.StatusCode, "reason", reason)
		a.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: res.StatusCode, Reason: reason})
		return
	}
}

func isChallenge(res *sip.Response) bool {
	return res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired
}

// reauthorize is the INVITE again with credentials for the challenge:
// same Call-ID and tags, the next CSeq, a new branch.
func (a *Agent) reauthorize(req *sip.Request, res *sip.Response) (*sip.Request, error) {
	again := req.Clone()
	again.RemoveHeader("Via")
	again.PrependHeader(a.newVia())
	again.CSeq().SeqNo++
	if _, err := a.authorize(again, res); err != nil {
		return nil, err
	}
	return again, nil
}

func (a *Agent) onProvisional(d *dialog, res *sip.Response) {
	a.mu.Lock()
	trying := !d.tryingSent
	d.tryingSent = true
	ringing := res.StatusCode > 100 && !d.ringingSent
	if ringing {
		d.ringingSent = true
	}
	a.mu.Unlock()
	// The phone's caller goes Initiating → Initiated → Ringing: trying
	// first, whatever came first.
	if trying {
		a.emit(signaling.Message{Type: signaling.TypeTrying, CallID: d.callID})
	}
	if ringing {
		if res.StatusCode == 183 && len(res.Body()) > 0 {
			a.log.Debug("early media offered; callstat waits for the answer", "call", d.callID)
		}
		a.emit(signaling.Message{Type: signaling.TypeRinging, CallID: d.callID})
	}
}

// onInvite2xx confirms the dialog: ACK, then the answer to the phone.
func (a *Agent) onInvite2xx(d *dialog, sess *sipgo.DialogClientSession) {
	res := sess.InviteResponse
	a.mu.Lock()
	d.remoteTag, _ = res.To().Params.Get("tag")
	if ct := res.Contact(); ct != nil {
		d.target = ct.Address
	}
	d.confirmed = true
	cancelled, trying := d.cancelWanted, !d.tryingSent
	ringing := d.rungOnWire && !d.ringingSent
	d.tryingSent, d.ringingSent = true, true
	a.mu.Unlock()
	a.ack(d, sess)
	if cancelled {
		// The answer crossed the phone's hang-up: the call is over.
		a.bye(d, signaling.StatusCancelled, "caller hung up before the answer")
		return
	}
	if _, err := CheckSDP(res.Body()); err != nil {
		a.log.Warn("the answer is unusable; hanging up", "call", d.callID, "err", err)
		a.bye(d, 488, "unusable answer")
		a.emit(signaling.Message{Type: signaling.TypeError, CallID: d.callID, Code: "unusable_sdp",
			Message: "the SIP answer (" + statusText(res) + "): " + err.Error()})
		return
	}
	if trying {
		a.emit(signaling.Message{Type: signaling.TypeTrying, CallID: d.callID})
	}
	if ringing {
		a.emit(signaling.Message{Type: signaling.TypeRinging, CallID: d.callID})
	}
	a.emit(signaling.Message{Type: signaling.TypeAnswer, CallID: d.callID, SDP: string(res.Body())})
}

// ack acknowledges the 2xx of our INVITE; sipgo sends the ACK again for
// each retransmission of the 2xx.
func (a *Agent) ack(d *dialog, sess *sipgo.DialogClientSession) {
	a.mu.Lock()
	target := d.target
	a.mu.Unlock()
	if err := sess.WriteAck(a.ctx, a.newRequest(sip.ACK, target)); err != nil {
		a.log.Debug("could not send ACK", "call", d.callID, "err", err)
	}
}

// --- Incoming calls --------------------------------------------------------

// onInvite handles an INVITE: a new call, or a re-INVITE in a dialog.
func (a *Agent) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if _, tagged := req.To().Params.Get("tag"); tagged {
		a.onReoffer(req, tx)
		return
	}
	callID := req.CallID().Value()
	if a.lookup(callID) != nil {
		_ = a.respond(tx, sip.NewResponseFromRequest(req, 482, "Loop Detected", nil))
		return
	}
	if !isSDP(contentType(req)) || len(req.Body()) == 0 {
		a.log.Warn("refusing an INVITE without an SDP offer", "call", callID)
		a.refuse(tx, req, 488, "Not Acceptable Here", "callstat needs an SDP offer in the INVITE")
		return
	}
	if _, err := CheckSDP(req.Body()); err != nil {
		a.log.Warn("refusing an INVITE whose offer is unusable", "call", callID, "err", err)
		a.refuse(tx, req, 488, "Not Acceptable Here", err.Error())
		return
	}
	d := &dialog{callID: callID, decisions: make(chan decision, 4), served: make(chan struct{}),
		answerOut: make(chan struct{}), done: make(chan struct{}), remoteSeq: req.CSeq().SeqNo}
	defer close(d.served)
	// Registered before sipgo's own (ReadInvite), so it runs first: the
	// reason is kept before the dialog's context ends.
	tx.OnCancel(func(r *sip.Request) {
		a.mu.Lock()
		d.cancel = reasonText(r, "caller cancelled")
		a.mu.Unlock()
	})
	sess, err := a.dua.ReadInvite(req, tx)
	if err != nil {
		a.log.Warn("refusing an INVITE", "call", callID, "err", err)
		a.refuse(tx, req, 400, "Bad Request", err.Error())
		return
	}
	a.mu.Lock()
	if _, dup := a.dialogs[callID]; dup {
		a.mu.Unlock()
		_ = a.respond(tx, sip.NewResponseFromRequest(req, 482, "Loop Detected", nil))
		return
	}
	d.srv = sess
	d.localTag, _ = sess.InviteRequest.To().Params.Get("tag")
	d.remoteTag, _ = req.From().Params.Get("tag")
	d.target = req.Contact().Address
	a.dialogs[callID] = d
	a.mu.Unlock()
	if err := a.respondInvite(sess, 100, "Trying"); err != nil {
		a.log.Debug("could not send 100 Trying", "call", callID, "err", err)
	}
	from, err := NormalizeID(req.From().Address.String(), "")
	if err != nil {
		from = req.From().Address.String()
	}
	a.log.Info("incoming call", "call", callID, "from", from)
	offer, added := bundleForPion(string(req.Body()))
	a.mu.Lock()
	d.noBundle = added
	a.mu.Unlock()
	a.emit(signaling.Message{Type: signaling.TypeIncoming, CallID: callID, From: from, To: a.id, SDP: offer})
	a.serveInvite(d, sess)
}

// refuse answers a request with a failure and a Warning (RFC 3261 §20.43).
func (a *Agent) refuse(tx sip.ServerTransaction, req *sip.Request, code int, phrase, why string) {
	res := sip.NewResponseFromRequest(req, code, phrase, nil)
	res.AppendHeader(warning(a.viaHost, why))
	res.AppendHeader(sip.NewHeader("User-Agent", a.cfg.UserAgent))
	_ = a.respond(tx, res)
}

// serveInvite carries out the phone's decisions on an incoming INVITE
// until its final response (and the ACK of a 2xx: sipgo's
// DialogServerSession sends the 2xx again until then), or until the
// caller cancels.
func (a *Agent) serveInvite(d *dialog, sess *sipgo.DialogServerSession) {
	for {
		select {
		case dec := <-d.decisions:
			switch dec.kind {
			case decRinging:
				if err := a.respondInvite(sess, 180, "Ringing", sip.NewHeader("User-Agent", a.cfg.UserAgent)); err != nil {
					a.log.Debug("could not send 180 Ringing", "call", d.callID, "err", err)
				}
			case decReject:
				a.forget(d)
				var extra []sip.Header
				if dec.reason != "" {
					extra = append(extra, reasonHeader(dec.status, dec.reason))
				}
				extra = append(extra, sip.NewHeader("User-Agent", a.cfg.UserAgent))
				if err := a.respondInvite(sess, dec.status, phrase(dec.status), extra...); err != nil {
					a.log.Debug("could not refuse the call", "call", d.callID, "err", err)
				}
				return
			case decAnswer:
				res := sip.NewResponseFromRequest(sess.InviteRequest, 200, "OK", dec.sdp)
				a.answerHeaders(res, true)
				a.trace(res)
				err := sess.WriteResponse(res)
				close(d.answerOut)
				a.mu.Lock()
				gone := d.gone
				a.mu.Unlock()
				if err == nil || gone || a.ctx.Err() != nil {
					return // acknowledged, or ended meanwhile (a BYE crossed the ACK)
				}
				if a.current() == nil {
					return // the WebSocket dropped: the phone deals with the call
				}
				a.log.Warn("no ACK for our 200 OK; hanging up", "call", d.callID, "err", err)
				a.bye(d, 408, "no ACK")
				a.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: signaling.StatusNoAnswer,
					Reason: "no ACK for the 200 OK within " + requestTimeout().String()})
				return
			}
		case <-sess.Context().Done():
			// sipgo answered a CANCEL (200, and 487 to the INVITE), or the
			// transaction died with its connection.
			a.forget(d)
			a.mu.Lock()
			reason := d.cancel
			a.mu.Unlock()
			if reason != "" || errors.Is(context.Cause(sess.Context()), sip.ErrTransactionCanceled) {
				if reason == "" {
					reason = "caller cancelled"
				}
				a.log.Info("caller cancelled", "call", d.callID)
				a.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: signaling.StatusCancelled, Reason: reason})
			}
			return
		case <-a.ctx.Done():
			a.forget(d)
			_ = a.respondInvite(sess, 503, "Service Unavailable")
			return
		}
	}
}

// respondInvite answers the INVITE of an incoming call (not with a 2xx)
// through its sipgo dialog session, which keeps its To tag.
func (a *Agent) respondInvite(sess *sipgo.DialogServerSession, code int, reason string, extra ...sip.Header) error {
	res := sip.NewResponseFromRequest(sess.InviteRequest, code, reason, nil)
	for _, h := range extra {
		res.AppendHeader(h)
	}
	a.trace(res)
	return sess.WriteResponse(res)
}

// answerHeaders completes a response that establishes or refreshes a
// dialog: our Contact (sipgo would add it too), Allow, Supported.
func (a *Agent) answerHeaders(res *sip.Response, invite bool) {
	if invite {
		res.AppendHeader(&sip.ContactHeader{Address: a.contact})
		res.AppendHeader(sip.NewHeader("Allow", allowed))
		res.AppendHeader(sip.NewHeader("Supported", "outbound"))
	}
	res.AppendHeader(sip.NewHeader("User-Agent", a.cfg.UserAgent))
	if len(res.Body()) > 0 {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
}

// sendDecision hands the phone's decision to the INVITE's handler.
func (a *Agent) sendDecision(m signaling.Message, dec decision) error {
	d := a.lookup(m.CallID)
	if d == nil || d.outgoing {
		return nil
	}
	a.mu.Lock()
	answered := d.answered
	a.mu.Unlock()
	if answered {
		return nil
	}
	return a.decide(d, dec)
}

func (a *Agent) decide(d *dialog, dec decision) error {
	select {
	case d.decisions <- dec:
		return nil
	case <-d.served:
		return fmt.Errorf("sip: call %s is over", d.callID)
	case <-a.ctx.Done():
		return fmt.Errorf("%w: the SIP agent is closing", signaling.ErrClosed)
	}
}

func (a *Agent) sendAnswer(m signaling.Message) error {
	d := a.lookup(m.CallID)
	if d == nil {
		return fmt.Errorf("sip: no call %s to answer", m.CallID)
	}
	a.mu.Lock()
	sdp := []byte(m.SDP)
	if d.noBundle && (d.reoffer != nil || !d.outgoing) {
		sdp = []byte(withoutBundle(m.SDP))
	}
	switch ro := d.reoffer; {
	case ro != nil:
		d.reoffer, d.localSDP = nil, sdp
		a.mu.Unlock()
		ro.answer <- sdp // room for one: the handler waits for it
		return nil
	case !d.outgoing && !d.answered:
		d.answered, d.confirmed, d.localSDP = true, true, sdp
		a.mu.Unlock()
		return a.decide(d, decision{kind: decAnswer, sdp: sdp})
	default:
		a.mu.Unlock()
		return fmt.Errorf("sip: call %s has no offer waiting for an answer", m.CallID)
	}
}

func (a *Agent) sendReject(m signaling.Message) error {
	d := a.lookup(m.CallID)
	if d == nil || d.outgoing {
		return nil
	}
	a.mu.Lock()
	answered := d.answered
	a.mu.Unlock()
	if answered {
		return fmt.Errorf("sip: call %s is answered; hang up instead", m.CallID)
	}
	status := m.Status
	if status < 300 || status > 699 {
		status = signaling.StatusDeclined
	}
	return a.decide(d, decision{kind: decReject, status: status, reason: m.Reason})
}

// --- Both directions -------------------------------------------------------

// sendEnd hangs up: BYE once the call is answered, CANCEL while an
// outgoing call rings (sipgo's WaitAnswer sends it once a provisional
// response allows it, RFC 3261 §9.1), 487 to an incoming call not
// answered. A call the agent does not know (over) is left alone: its
// media path carries the hang-up (RTCP BYE).
func (a *Agent) sendEnd(m signaling.Message) error {
	d := a.lookup(m.CallID)
	if d == nil {
		a.log.Debug("hang-up of a call the SIP agent does not know", "call", m.CallID)
		return nil
	}
	a.mu.Lock()
	switch {
	case d.confirmed:
		a.mu.Unlock()
		a.hangups.Add(1)
		if !a.goOwned(func() { defer a.hangups.Done(); a.bye(d, m.Status, m.Reason) }) {
			a.hangups.Done()
		}
	case d.outgoing:
		stop := d.stopInvite
		if !d.inviteDone && !d.cancelWanted {
			d.cancelWanted = true
			a.hangups.Add(1) // released when the INVITE's goroutine returns
		}
		a.mu.Unlock()
		stop(nil)
	default:
		a.mu.Unlock()
		return a.decide(d, decision{kind: decReject, status: signaling.StatusCancelled})
	}
	return nil
}

// bye ends a confirmed dialog with sipgo's WriteBye (which, on the
// callee's side, waits for the ACK of our 2xx first, RFC 3261 §15),
// answering one digest challenge.
func (a *Agent) bye(d *dialog, status int, reason string) {
	a.forget(d)
	if d.answerOut != nil {
		select {
		case <-d.answerOut: // sipgo's 2xx and its ACK are settled
		case <-a.ctx.Done():
			return
		}
	}
	a.mu.Lock()
	sess, target := d.session(), d.target
	a.mu.Unlock()
	if sess == nil {
		return
	}
	newBye := func() *sip.Request {
		req := a.newRequest(sip.BYE, target)
		if reason != "" && status >= 200 && status < 700 {
			req.AppendHeader(reasonHeader(status, reason))
		}
		return req
	}
	ctx, cancel := context.WithTimeout(a.ctx, requestTimeout())
	defer cancel()
	err := sess.WriteBye(ctx, newBye())
	res := dialogResponse(err)
	if res != nil && isChallenge(res) {
		again := newBye()
		if _, err = a.authorize(again, res); err == nil {
			var tx sip.ClientTransaction
			if tx, err = sess.TransactionRequest(ctx, again); err == nil {
				res, err = waitFinal(ctx, tx)
				tx.Terminate()
				if err == nil && !res.IsSuccess() {
					err = sipgo.ErrDialogResponse{Res: res}
				}
			}
		}
		res = dialogResponse(err)
	}
	switch {
	case err == nil:
	case res != nil && res.StatusCode == 481:
		a.log.Warn("the server no longer knows the call (BYE answered 481 Call/Transaction Does Not Exist); it is over here anyway", "call", d.callID)
	case res != nil:
		a.log.Warn("BYE refused", "call", d.callID, "status", res.StatusCode, "reason", res.Reason)
	default:
		a.log.Warn("BYE failed; the media path carries the hang-up", "call", d.callID, "err", txError(err))
	}
}

// dialogResponse is the response in a sipgo dialog error, if it is one.
func dialogResponse(err error) *sip.Response {
	var v sipgo.ErrDialogResponse
	if errors.As(err, &v) {
		return v.Res
	}
	var p *sipgo.ErrDialogResponse
	if errors.As(err, &p) {
		return p.Res
	}
	return nil
}

// sendUpdate sends the phone's new offer as a re-INVITE; its 2xx answer
// goes back to the phone as "answer".
func (a *Agent) sendUpdate(m signaling.Message) error {
	d := a.lookup(m.CallID)
	if d == nil {
		return fmt.Errorf("sip: no call %s to re-offer", m.CallID)
	}
	a.mu.Lock()
	sess := d.session()
	if !d.confirmed || d.updating || d.reoffer != nil || sess == nil {
		a.mu.Unlock()
		return fmt.Errorf("sip: call %s cannot take a new offer now (not connected, or an offer is in progress)", m.CallID)
	}
	d.updating = true
	prev, target := d.localSDP, d.target
	d.localSDP = []byte(m.SDP)
	a.mu.Unlock()
	req := a.newRequest(sip.INVITE, target)
	a.withOffer(req, []byte(m.SDP))
	tx, err := sess.TransactionRequest(a.ctx, req)
	if err == nil && !a.goOwned(func() { a.runReinvite(d, sess, req, tx, prev) }) {
		tx.Terminate()
		err = fmt.Errorf("%w: the SIP agent is closing", signaling.ErrClosed)
	}
	if err != nil {
		a.mu.Lock()
		d.updating, d.localSDP = false, prev
		a.mu.Unlock()
		return fmt.Errorf("sip: sending re-INVITE: %w", err)
	}
	return nil
}

func (a *Agent) runReinvite(d *dialog, sess dialogSession, req *sip.Request, tx sip.ClientTransaction, prev []byte) {
	defer func() {
		a.mu.Lock()
		d.updating = false
		a.mu.Unlock()
	}()
	authTried := false
	for {
		ctx, cancel := context.WithTimeout(a.ctx, requestTimeout())
		res, err := waitFinal(ctx, tx)
		cancel()
		if err != nil {
			tx.Terminate()
			if a.ctx.Err() == nil {
				a.emit(signaling.Message{Type: signaling.TypeError, CallID: d.callID, Code: "update_failed", Message: "re-INVITE: " + txError(err).Error()})
			}
			return
		}
		if res.IsSuccess() {
			a.mu.Lock()
			if ct := res.Contact(); ct != nil {
				d.target = ct.Address // a target refresh
			}
			target := d.target
			a.mu.Unlock()
			ack := a.newRequest(sip.ACK, target)
			if err := sess.WriteRequest(ack); err != nil {
				a.log.Debug("could not send ACK", "call", d.callID, "err", err)
			}
			again := ack.Clone()
			tx.OnRetransmission(func(r *sip.Response) {
				if r.IsSuccess() {
					_ = a.client.WriteRequest(again.Clone())
				}
			})
			a.emit(signaling.Message{Type: signaling.TypeAnswer, CallID: d.callID, SDP: string(res.Body())})
			return
		}
		if isChallenge(res) && !authTried {
			authTried = true
			a.mu.Lock()
			target := d.target
			a.mu.Unlock()
			again := a.newRequest(sip.INVITE, target)
			a.withOffer(again, req.Body())
			if _, err := a.authorize(again, res); err == nil {
				if next, err := sess.TransactionRequest(a.ctx, again); err == nil {
					req, tx = again, next
					continue
				}
			}
		}
		a.mu.Lock()
		d.localSDP = prev
		a.mu.Unlock()
		a.emit(signaling.Message{Type: signaling.TypeError, CallID: d.callID, Code: "update_failed",
			Message: fmt.Sprintf("re-INVITE answered %d %s", res.StatusCode, reasonText(res, res.Reason))})
		if res.StatusCode == sip.StatusCallTransactionDoesNotExists || res.StatusCode == sip.StatusRequestTimeout {
			// RFC 5407 §4: the dialog is gone.
			a.forget(d)
			a.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: res.StatusCode,
				Reason: "the far end no longer knows the call: re-INVITE answered " + strconv.Itoa(res.StatusCode)})
		}
		return
	}
}

// --- Requests from the far end ---------------------------------------------

// onReoffer handles a re-INVITE or UPDATE: the far end's new offer goes
// to the phone as "update"; an offerless re-INVITE (a session refresh)
// gets our current description again.
func (a *Agent) onReoffer(req *sip.Request, tx sip.ServerTransaction) {
	d := a.matchDialog(req)
	if d == nil {
		_ = a.respond(tx, sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	a.mu.Lock()
	seq := req.CSeq().SeqNo
	if d.remoteSeq != 0 && seq <= d.remoteSeq {
		a.mu.Unlock()
		// RFC 3261 §12.2.2: out of order (retransmissions never get here:
		// sipgo's transaction layer answers them).
		_ = a.respond(tx, sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
		return
	}
	d.remoteSeq = seq
	busy := d.updating || d.reoffer != nil
	confirmed := d.confirmed
	local := d.localSDP
	a.mu.Unlock()
	switch {
	case busy:
		_ = a.respond(tx, a.dialogResponse(req, 491, "Request Pending", nil))
		return
	case len(req.Body()) == 0:
		if req.Method == sip.UPDATE {
			_ = a.respond(tx, a.dialogResponse(req, 200, "OK", nil))
			return
		}
		a.respondReinvite(d, req, tx, local)
		return
	case !confirmed:
		_ = a.respond(tx, a.dialogResponse(req, 491, "Request Pending", nil))
		return
	}
	if _, err := CheckSDP(req.Body()); err != nil {
		a.log.Warn("refusing an unusable re-offer", "call", d.callID, "err", err)
		a.refuse(tx, req, 488, "Not Acceptable Here", err.Error())
		return
	}
	ro := &reoffer{req: req, answer: make(chan []byte, 1)}
	offer, added := bundleForPion(string(req.Body()))
	a.mu.Lock()
	if ct := req.Contact(); ct != nil {
		d.target = ct.Address // a target refresh
	}
	d.reoffer, d.noBundle = ro, added
	a.mu.Unlock()
	a.log.Info("new offer from the far end", "call", d.callID, "method", string(req.Method))
	a.emit(signaling.Message{Type: signaling.TypeUpdate, CallID: d.callID, SDP: offer})
	t := time.NewTimer(reofferTimeout)
	defer t.Stop()
	select {
	case sdp := <-ro.answer:
		if req.Method == sip.UPDATE {
			_ = a.respond(tx, a.dialogResponse(req, 200, "OK", sdp))
			return
		}
		a.respondReinvite(d, req, tx, sdp)
	case <-d.done:
		_ = a.respond(tx, a.dialogResponse(req, 487, "Request Terminated", nil))
	case <-tx.Done():
	case <-a.ctx.Done():
		_ = a.respond(tx, a.dialogResponse(req, 503, "Service Unavailable", nil))
	case <-t.C:
		a.mu.Lock()
		if d.reoffer == ro {
			d.reoffer = nil
		}
		a.mu.Unlock()
		a.log.Warn("the phone gave no answer to the new offer", "call", d.callID)
		_ = a.respond(tx, a.dialogResponse(req, 500, "Server Internal Error", nil))
	}
}

// respondReinvite answers a re-INVITE with 200 and sends it again until
// the ACK (RFC 3261 §13.3.1.4; sipgo's server transaction leaves that to
// the user agent, and its DialogServerSession does it only for the
// initial INVITE).
func (a *Agent) respondReinvite(d *dialog, req *sip.Request, tx sip.ServerTransaction, sdp []byte) {
	res := a.dialogResponse(req, 200, "OK", sdp)
	p := &pendingAck{seq: req.CSeq().SeqNo, acked: make(chan struct{})}
	a.mu.Lock()
	d.pending = p
	a.mu.Unlock()
	if err := a.respond(tx, res); err != nil {
		a.log.Debug("could not answer the re-INVITE", "call", d.callID, "err", err)
		return
	}
	interval := sip.T1
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	for {
		t := time.NewTimer(interval)
		select {
		case <-p.acked:
			t.Stop()
			return
		case <-a.ctx.Done():
			t.Stop()
			return
		case <-deadline.C:
			t.Stop()
			a.log.Warn("no ACK for our 200 OK to the re-INVITE; hanging up", "call", d.callID)
			a.bye(d, 408, "no ACK")
			a.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: signaling.StatusNoAnswer,
				Reason: "no ACK for the 200 OK to the re-INVITE within " + (64 * sip.T1).String()})
			return
		case <-t.C:
			_ = a.respond(tx, res)
			interval = min(2*interval, sip.T2)
		}
	}
}

// dialogResponse is a response within a dialog: our Contact, Allow and
// Supported on a 2xx to INVITE, and the description when there is one.
func (a *Agent) dialogResponse(req *sip.Request, code int, reason string, sdp []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, sdp)
	a.answerHeaders(res, req.Method == sip.INVITE && code >= 200 && code < 300)
	return res
}

func (a *Agent) onAck(req *sip.Request, tx sip.ServerTransaction) {
	d := a.matchDialog(req)
	if d == nil {
		return // the ACK of an ended call
	}
	a.mu.Lock()
	p, srv := d.pending, d.srv
	if p != nil && p.seq == req.CSeq().SeqNo {
		d.pending = nil
	} else {
		p = nil
	}
	a.mu.Unlock()
	switch {
	case p != nil:
		close(p.acked)
	case srv != nil:
		if err := srv.ReadAck(req, tx); err != nil {
			a.log.Debug("ACK not for our 2xx", "call", d.callID, "err", err)
		}
	}
}

func (a *Agent) onBye(req *sip.Request, tx sip.ServerTransaction) {
	d := a.matchDialog(req)
	if d == nil {
		_ = a.respond(tx, sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	a.forget(d)
	a.mu.Lock()
	cli, srv := d.cli, d.srv
	a.mu.Unlock()
	var err error
	switch {
	case cli != nil:
		err = cli.ReadBye(req, tx)
	case srv != nil:
		err = srv.ReadBye(req, tx)
	default:
		err = a.respond(tx, sip.NewResponseFromRequest(req, 200, "OK", nil))
	}
	if err != nil {
		a.log.Warn("could not answer BYE", "call", d.callID, "err", err)
		_ = a.respond(tx, sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
	}
	a.log.Info("far end hung up (BYE)", "call", d.callID)
	a.emit(signaling.Message{Type: signaling.TypeEnd, CallID: d.callID, Status: signaling.StatusNormal,
		Reason: reasonText(req, "far end hung up")})
}

// onCancel sees the CANCELs that sipgo's transaction layer matched to no
// INVITE of ours (those it matches it answers itself).
func (a *Agent) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	_ = a.respond(tx, sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
}

func (a *Agent) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Supported", "outbound"))
	res.AppendHeader(sip.NewHeader("User-Agent", a.cfg.UserAgent))
	_ = a.respond(tx, res)
}

func (a *Agent) onOther(req *sip.Request, tx sip.ServerTransaction) {
	a.log.Debug("method not supported", "method", string(req.Method))
	res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	_ = a.respond(tx, res)
}

// --- Helpers -----------------------------------------------------------------

// reasonText is what a failure response says: the text of its Reason
// header (RFC 3326) or Warning when it has one, else the reason phrase.
func reasonText(m interface{ GetHeader(string) sip.Header }, phrase string) string {
	if h := m.GetHeader("Reason"); h != nil {
		if _, rest, ok := strings.Cut(h.Value(), "text="); ok {
			if t := strings.Trim(strings.SplitN(rest, ";", 2)[0], `" `); t != "" {
				return t
			}
		}
	}
	if h := m.GetHeader("Warning"); h != nil {
		if i := strings.Index(h.Value(), `"`); i >= 0 {
			if t := strings.Trim(h.Value()[i:], `" `); t != "" {
				return phrase + ": " + t
			}
		}
	}
	return phrase
}

// params builds header or URI parameters from key, value pairs.
func params(kv ...string) sip.HeaderParams {
	p := sip.NewParams()
	for i := 0; i+1 < len(kv); i += 2 {
		p.Add(kv[i], kv[i+1])
	}
	return p
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
