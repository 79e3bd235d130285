package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/signaling"
)

// connectTimeout bounds ICE+DTLS after the answer: pion stays in
// "checking" when no candidate pair ever works, so the call needs its own
// deadline to fail cleanly.
const connectTimeout = 30 * time.Second

// inboxSize is how many signaling messages may wait for a call's loop. A
// call gets a handful in all (the answer, an end, a candidate or two), and
// each slot costs a Message's 240 bytes for every call in progress.
const inboxSize = 8

// receiveMTU is the largest RTP packet a call reads, pion's default
// receive MTU.
const receiveMTU = 1500

// remoteCloseGrace is how long a call waits for the far end's "end" after
// the far end closed the media connection.
const remoteCloseGrace = 2 * time.Second

// ErrInvalidState is returned by Answer and Reject on a call that is not
// waiting for an answer (the SDK's call:6).
var ErrInvalidState = errors.New("invalid call state for this operation")

// Call is one audio call. All of its state changes happen on one goroutine
// (run); pion callbacks and API methods only post to it.
type Call struct {
	p      *Phone
	id     string
	dir    Direction
	remote string
	log    *slog.Logger
	offer  string // incoming: the caller's offer

	pc      *webrtc.PeerConnection
	getters pcGetters   // what pc's interceptors measure
	cache   reportCache // what its stats reports reuse (report.go)
	cands   candidateBook
	// The transport's selected candidate pair changes (W3C
	// selectedCandidatePairChanges).
	pairChanges atomic.Uint32
	sender      *webrtc.RTPSender
	audio       *gatedTrack // the phone's audio as this call sends it

	// srcBase is the shared source's media-source figures when this call
	// attached it: the call's own totals are measured from there.
	srcBase audio.SourceStats

	inbox    chan signaling.Message
	pcEvents chan pcEvent
	reqs     chan request
	hangups  chan string     // capacity 1: one pending hang-up is enough
	ctx      context.Context // cancelled at teardown; unblocks callbacks
	cancel   context.CancelFunc

	connected chan struct{}
	done      chan struct{}
	sigDone   <-chan struct{} // the signaling connection the call was set up on has ended
	media     sync.WaitGroup  // RTP/RTCP readers, mDNS resolutions

	mu          sync.Mutex
	state       State
	history     []StateChange
	startedAt   time.Time
	connectedAt time.Time
	endedAt     time.Time
	err         error
	tornDown    bool
	answered    bool   // incoming: answer sent; outgoing: answer applied
	remoteUfrag string // the far end's description's, for its trickled candidates
	// candidatesSent: our description carried every candidate
	// (withCandidates); none is trickled.
	candidatesSent bool
	pending        []webrtc.ICECandidateInit
	recv           *audio.ReceiveMeter // the far end's decoded audio
	recvSSRC       uint32
	recordErr      error
	// Hold (hold.go): who holds the media now, and as of the last state
	// change; a re-offer of ours in flight and who waits for it.
	hold      Hold
	stateHold Hold
	updating  *holdRequest
}

type pcEvent struct {
	candidate  *webrtc.ICECandidate
	resolved   *webrtc.ICECandidateInit // a far-end mDNS candidate, resolved
	gathered   bool
	dtlsClosed bool
	bye        *Transition // the far end's RTCP BYE (hang-up.go)
	conn       webrtc.PeerConnectionState
	ice        webrtc.ICEConnectionState
}

type requestKind int

const (
	reqAnswer requestKind = iota
	reqReject
	reqHold
	reqResume
)

type request struct {
	kind   requestKind
	status int
	reason string
	reply  chan error // nil: fire and forget
}

func newCall(p *Phone, id string, dir Direction, remote string) *Call {
	ctx, cancel := context.WithCancel(context.Background())
	initial := StateInitiating
	if dir == Incoming {
		initial = StateInitiated
	}
	return &Call{
		p:         p,
		id:        id,
		dir:       dir,
		remote:    remote,
		log:       p.log.With("call", id),
		inbox:     make(chan signaling.Message, inboxSize),
		pcEvents:  make(chan pcEvent, 32),
		reqs:      make(chan request, 4),
		hangups:   make(chan string, 1),
		ctx:       ctx,
		cancel:    cancel,
		connected: make(chan struct{}),
		done:      make(chan struct{}),
		state:     initial,
		startedAt: time.Now(),
	}
}

// ID is the call id, a UUID v4 made by the caller.
func (c *Call) ID() string { return c.id }

// Direction says whether this phone placed or received the call.
func (c *Call) Direction() Direction { return c.dir }

// Local is this phone's identity.
func (c *Call) Local() string { return c.p.cfg.Identity }

// Remote is the other party: the callee of an outgoing call, the caller
// ("from") of an incoming one.
func (c *Call) Remote() string { return c.remote }

// Connected is closed when the call reaches Connected.
func (c *Call) Connected() <-chan struct{} { return c.connected }

// Done is closed when the call has ended and its resources are released.
func (c *Call) Done() <-chan struct{} { return c.done }

// State is the current state.
func (c *Call) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Transition is the reason of the last state change.
func (c *Call) Transition() Transition {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.history) == 0 {
		return Transition{}
	}
	return c.history[len(c.history)-1].Transition
}

// Err is nil while the call runs and after a normal end; otherwise it wraps
// one of the package's sentinel errors.
func (c *Call) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// StartedAt is when the call was placed or received.
func (c *Call) StartedAt() time.Time { return c.startedAt }

// ConnectedAt is when the call reached Connected (zero if it never did).
func (c *Call) ConnectedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connectedAt
}

// EndedAt is when the call reached a final state (zero before).
func (c *Call) EndedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endedAt
}

// SetupTime is the time from start to Connected, zero if it never connected.
func (c *Call) SetupTime() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.connectedAt.IsZero() {
		return 0
	}
	return c.connectedAt.Sub(c.startedAt)
}

// GetStats returns the PeerConnection's current statistics.
func (c *Call) GetStats() webrtc.StatsReport {
	if c.pc == nil {
		return webrtc.StatsReport{}
	}
	return c.pc.GetStats()
}

// Answer accepts an incoming call.
func (c *Call) Answer(ctx context.Context) error {
	return c.ask(ctx, request{kind: reqAnswer})
}

// Reject refuses an incoming call that is not answered yet. Status is a
// signaling status (signaling.StatusDeclined when zero).
func (c *Call) Reject(ctx context.Context, status int, reason string) error {
	return c.ask(ctx, request{kind: reqReject, status: status, reason: reason})
}

// Hangup ends the call from this side, whatever its state, and returns at
// once; Done is closed when it is over. It is safe to call more than once.
func (c *Call) Hangup(reason string) {
	select {
	case c.hangups <- reason:
	default: // a hang-up is already pending
	}
}

func (c *Call) ask(ctx context.Context, r request) error {
	r.reply = make(chan error, 1)
	select {
	case c.reqs <- r:
	case <-c.done:
		return fmt.Errorf("%w: call %s has ended", ErrInvalidState, c.id)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.reply:
		return err
	case <-c.done:
		return fmt.Errorf("%w: call %s has ended", ErrInvalidState, c.id)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deliver hands a server message to the call without blocking the
// dispatcher for long.
func (c *Call) deliver(m signaling.Message) {
	select {
	case c.inbox <- m:
	case <-c.ctx.Done():
	}
}

// post hands a pion event to the call. pion callbacks must never block
// without a way out.
func (c *Call) post(ev pcEvent) {
	select {
	case c.pcEvents <- ev:
	case <-c.ctx.Done():
	}
}

func (c *Call) start(run func()) {
	go func() {
		defer c.p.wg.Done()
		run()
	}()
}

// abandon releases a call that was registered but never started.
func (c *Call) abandon(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	c.cancel()
	c.p.forget(c)
	close(c.done)
	c.p.wg.Done()
}

// setState moves the call, logs the change and tells the hooks. It refuses
// transitions the state machine does not allow.
func (c *Call) setState(to State, t Transition, err error) bool {
	c.mu.Lock()
	from := c.state
	if !CanTransition(c.dir, from, to) {
		c.mu.Unlock()
		c.log.Debug("ignored state change", "from", from.String(), "to", to.String())
		return false
	}
	c.state = to
	now := time.Now()
	// Connected again after a hold is not a new connection.
	firstConnect := to == StateConnected && c.connectedAt.IsZero()
	switch {
	case firstConnect:
		c.connectedAt = now
	case to.Final():
		c.endedAt = now
		c.err = err
	}
	change := StateChange{CallID: c.id, Previous: from, PreviousHold: c.stateHold, State: to, Transition: t, Error: err}
	c.stateHold = c.hold
	c.history = append(c.history, change)
	c.mu.Unlock()

	attrs := []any{"previous", from.String(), "state", to.String()}
	if t.StatusCode != 0 {
		attrs = append(attrs, "statusCode", t.StatusCode)
	}
	if t.ReasonText != "" {
		attrs = append(attrs, "reason", t.ReasonText)
	}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	c.log.Info("call state changed", attrs...)
	if firstConnect {
		close(c.connected)
	}
	if h := c.p.cfg.Hooks.StateChanged; h != nil {
		h(c, change)
	}
	return true
}

// setupPC creates the PeerConnection and wires its callbacks.
func (c *Call) setupPC() error {
	cfg := webrtc.Configuration{
		ICEServers:    c.p.cfg.ICEServers,
		Certificates:  []webrtc.Certificate{c.p.cert},
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	}
	pc, getters, err := c.p.newPeerConnection(cfg)
	if err != nil {
		return fmt.Errorf("%w: creating peer connection: %v", ErrMediaFailure, err)
	}
	c.pc, c.getters = pc, getters
	c.audio = newGatedTrack(c.p.cfg.Source.Track())
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			c.cands.addLocal(cand, c.p.pnet)
		}
		c.post(pcEvent{candidate: cand, gathered: cand == nil})
	})
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(*webrtc.ICECandidatePair) {
		c.pairChanges.Add(1)
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			c.audio.open() // SRTP is up: packets are no longer dropped
		}
		c.post(pcEvent{conn: s})
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) { c.post(pcEvent{ice: s}) })
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if !c.addMediaWorker() {
			return
		}
		go func() {
			defer c.media.Done()
			c.readRemoteTrack(track)
		}()
	})
	return nil
}

// addMediaWorker counts a media goroutine unless teardown has begun.
func (c *Call) addMediaWorker() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tornDown {
		return false
	}
	c.media.Add(1)
	return true
}

// addLocalAudio attaches the phone's audio track and starts the RTCP
// readers that callstat's statistics and XR interceptors depend on.
func (c *Call) addLocalAudio() error {
	var sender *webrtc.RTPSender
	var receiver *webrtc.RTPReceiver
	if c.dir == Outgoing {
		tr, err := c.pc.AddTransceiverFromTrack(c.audio,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
		if err != nil {
			return fmt.Errorf("%w: adding audio: %v", ErrMediaFailure, err)
		}
		sender, receiver = tr.Sender(), tr.Receiver()
	} else {
		s, err := c.pc.AddTrack(c.audio)
		if err != nil {
			return fmt.Errorf("%w: adding audio: %v", ErrMediaFailure, err)
		}
		sender = s
		for _, tr := range c.pc.GetTransceivers() {
			if tr.Sender() == s {
				receiver = tr.Receiver()
				preferOwnCodecs(tr, c.log)
			}
		}
	}
	c.mu.Lock() // CollectStats reads it from the collector's goroutine
	c.sender = sender
	c.srcBase = c.p.cfg.Source.Stats()
	c.mu.Unlock()
	sender.Transport().OnStateChange(func(s webrtc.DTLSTransportState) {
		if s == webrtc.DTLSTransportStateClosed {
			c.post(pcEvent{dtlsClosed: true})
		}
	})
	if c.addMediaWorker() {
		go func() {
			defer c.media.Done()
			c.readRTCP(sender.ReadRTCP)
		}()
	}
	if receiver != nil && c.addMediaWorker() {
		go func() {
			defer c.media.Done()
			c.readRTCP(receiver.ReadRTCP)
		}()
	}
	return nil
}

// readRemoteTrack reads the far end's audio (which pion's interceptors
// count), decodes and measures it, and records it when asked.
func (c *Call) readRemoteTrack(track *webrtc.TrackRemote) {
	c.log.Debug("remote audio track", "codec", track.Codec().MimeType, "ssrc", uint32(track.SSRC()))
	var path string
	if c.p.cfg.RecordPath != nil {
		path = c.p.cfg.RecordPath(c)
	}
	meter, err := audio.NewReceiveMeter(audio.ReceiveConfig{RecordPath: path, CountOnly: c.p.cfg.SkipDecode && path == "", Logger: c.log})
	if err != nil {
		c.log.Error("cannot decode or record the far end's audio", "err", err)
		if path != "" {
			c.mu.Lock()
			c.recordErr = err
			c.mu.Unlock()
		}
		meter = nil
	} else {
		if path != "" {
			c.log.Info("recording received audio", "file", path)
		}
		c.mu.Lock()
		c.recv, c.recvSSRC = meter, uint32(track.SSRC())
		c.mu.Unlock()
	}
	// One buffer and one packet for the whole call: this loop runs for
	// every packet of every call.
	buf := make([]byte, receiveMTU)
	var pkt rtp.Packet
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			break
		}
		if meter != nil && pkt.Unmarshal(buf[:n]) == nil {
			meter.Packet(&pkt)
		}
	}
	if meter == nil {
		return
	}
	if err := meter.Close(); err != nil {
		c.mu.Lock()
		c.recordErr = err
		c.mu.Unlock()
	}
}

// ReceivedAudio is what the far end's audio measured so far (zero before it
// arrived).
func (c *Call) ReceivedAudio() audio.ReceiveStats {
	c.mu.Lock()
	recv := c.recv
	c.mu.Unlock()
	if recv == nil {
		return audio.ReceiveStats{}
	}
	return recv.Stats()
}

// RecordErr says why the call's --record file is missing or incomplete
// (wrapping audio.ErrRecord); nil when it was written, or not asked for.
// It is final once Done is closed.
func (c *Call) RecordErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recordErr != nil && !errors.Is(c.recordErr, audio.ErrRecord) {
		return fmt.Errorf("%w: %v", audio.ErrRecord, c.recordErr)
	}
	return c.recordErr
}

// runOutgoing drives a call this phone placed.
func (c *Call) runOutgoing() {
	defer c.teardown()
	c.log.Info("placing call", "from", c.Local(), "to", c.remote, "state", c.State().String())
	if err := c.setupPC(); err != nil {
		c.fail(err, signaling.StatusMediaFailure, err.Error(), false)
		return
	}
	c.started()
	if err := c.addLocalAudio(); err != nil {
		c.fail(err, signaling.StatusMediaFailure, err.Error(), false)
		return
	}
	offer, err := c.pc.CreateOffer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(offer)
	}
	if err != nil {
		err = fmt.Errorf("%w: creating offer: %v", ErrMediaFailure, err)
		c.fail(err, signaling.StatusMediaFailure, err.Error(), false)
		return
	}
	if err := c.p.send(signaling.Message{Type: signaling.TypeCall, CallID: c.id, From: c.Local(), To: c.remote, SDP: c.withCandidates(offer.SDP),
		Credentials: c.p.cfg.Credentials}); err != nil {
		err = fmt.Errorf("%w: %v", ErrSignalingLost, err)
		c.fail(err, 0, "signaling connection lost", false)
		return
	}
	c.loop(time.NewTimer(c.p.cfg.AnswerTimeout))
}

// runIncoming drives a call this phone received.
func (c *Call) runIncoming() {
	defer c.teardown()
	c.log.Info("incoming call", "from", c.remote, "to", c.Local())
	if err := c.setupPC(); err != nil {
		c.refuse(err)
		return
	}
	c.started()
	if err := c.setRemoteDescription(webrtc.SDPTypeOffer, c.offer); err != nil {
		c.refuse(fmt.Errorf("%w: unusable offer: %v", ErrProtocol, err))
		return
	}
	if err := c.addLocalAudio(); err != nil {
		c.refuse(err)
		return
	}
	if err := c.p.send(signaling.Message{Type: signaling.TypeRinging, CallID: c.id}); err != nil {
		c.fail(fmt.Errorf("%w: %v", ErrSignalingLost, err), 0, "signaling connection lost", false)
		return
	}
	c.setState(StateRinging, Transition{ReasonText: "incoming call from " + c.remote}, nil)
	select {
	case c.p.incoming <- c:
	default:
		c.log.Warn("too many unanswered calls; refusing as busy")
		c.reject(signaling.StatusBusy, "busy: too many unanswered calls")
		return
	}
	c.loop(nil)
}

func (c *Call) started() {
	if h := c.p.cfg.Hooks.CallStarted; h != nil {
		h(c)
	}
}

// refuse ends an incoming call that could not even be offered to the user.
func (c *Call) refuse(err error) {
	c.log.Warn("refusing incoming call", "err", err)
	_ = c.p.send(signaling.Message{Type: signaling.TypeReject, CallID: c.id, Status: signaling.StatusMediaFailure, Reason: err.Error()})
	c.setState(StateEnded, Transition{StatusCode: signaling.StatusMediaFailure, ReasonText: err.Error()}, err)
}

// loop processes events until the call reaches a final state.
func (c *Call) loop(answerTimer *time.Timer) {
	var answerTimeout, connectTimer, closeGrace <-chan time.Time
	if answerTimer != nil {
		defer answerTimer.Stop()
		answerTimeout = answerTimer.C
	}
	sigDone := c.sigDone
	for !c.State().Final() {
		if c.State().live() {
			answerTimeout, connectTimer, sigDone = nil, nil, nil
		}
		select {
		case m := <-c.inbox:
			c.onMessage(m)
		case ev := <-c.pcEvents:
			if ev.bye != nil {
				c.log.Debug("far end hung up in band (RTCP BYE)", "statusCode", ev.bye.StatusCode, "reason", ev.bye.ReasonText)
				c.remoteEnd(ev.bye.StatusCode, ev.bye.ReasonText)
				continue
			}
			if ev.dtlsClosed && closeGrace == nil {
				// The far end closed its media connection: its "end"
				// should be on its way. If the server cannot deliver it,
				// end the call anyway after a grace period.
				t := time.NewTimer(remoteCloseGrace)
				defer t.Stop()
				closeGrace = t.C
				c.log.Debug("far end closed the media connection")
				continue
			}
			c.onPCEvent(ev)
		case <-closeGrace:
			c.setState(StateEnded, Transition{StatusCode: signaling.StatusNormal, ReasonText: "far end closed the media connection"}, nil)
		case r := <-c.reqs:
			if r.kind == reqAnswer && connectTimer == nil {
				t := time.NewTimer(connectTimeout)
				defer t.Stop()
				connectTimer = t.C
			}
			c.onRequest(r)
		case reason := <-c.hangups:
			c.hangup(reason)
		case <-answerTimeout:
			c.fail(fmt.Errorf("%w after %s", ErrNoAnswer, c.p.cfg.AnswerTimeout), signaling.StatusNoAnswer,
				"no answer within "+c.p.cfg.AnswerTimeout.String(), true)
		case <-connectTimer:
			err := fmt.Errorf("%w: no media connection within %s of the answer", ErrMediaFailure, connectTimeout)
			c.fail(err, signaling.StatusMediaFailure, err.Error(), true)
		case <-sigDone:
			// What the server said before it went comes first.
			select {
			case m := <-c.inbox:
				c.onMessage(m)
				continue
			default:
			}
			// Before Connected the call cannot progress without the server
			// it was set up on: a reconnected one knows nothing of it.
			c.fail(fmt.Errorf("%w before the call connected", ErrSignalingLost), 0,
				"signaling connection lost before the call connected", false)
		}
	}
}

func (c *Call) onMessage(m signaling.Message) {
	switch m.Type {
	case signaling.TypeTrying:
		if c.dir == Outgoing {
			c.setState(StateInitiated, Transition{ReasonText: "call routed by the signaling server"}, nil)
		}
	case signaling.TypeRinging:
		if c.dir == Outgoing {
			c.setState(StateRinging, Transition{StatusCode: 180, ReasonText: "callee is ringing"}, nil)
		}
	case signaling.TypeUpdate:
		c.onUpdate(m)
	case signaling.TypeAnswer:
		if c.updating != nil {
			c.onUpdateAnswer(m)
			return
		}
		if c.dir != Outgoing {
			return
		}
		if err := c.setRemoteDescription(webrtc.SDPTypeAnswer, m.SDP); err != nil {
			err = fmt.Errorf("%w: unusable answer: %v", ErrProtocol, err)
			c.fail(err, signaling.StatusMediaFailure, err.Error(), true)
			return
		}
		c.mu.Lock()
		c.answered = true
		pending := c.pending
		c.pending = nil
		c.mu.Unlock()
		c.log.Debug("answer applied")
		for _, cand := range pending {
			c.addRemoteCandidate(cand)
		}
	case signaling.TypeCandidate:
		if m.Candidate == nil || m.Candidate.Candidate == "" {
			return // end of candidates: nothing to do for pion
		}
		cand := webrtc.ICECandidateInit{
			Candidate:        m.Candidate.Candidate,
			SDPMid:           m.Candidate.SDPMid,
			SDPMLineIndex:    m.Candidate.SDPMLineIndex,
			UsernameFragment: m.Candidate.UsernameFragment,
		}
		if c.pc.RemoteDescription() == nil {
			c.mu.Lock()
			c.pending = append(c.pending, cand)
			c.mu.Unlock()
			return
		}
		c.addRemoteCandidate(cand)
	case signaling.TypeEnd:
		c.remoteEnd(m.Status, m.Reason)
	case signaling.TypeError:
		err := fmt.Errorf("%w: server said %s: %s", ErrProtocol, m.Code, m.Message)
		if signaling.IsAuthCode(m.Code) {
			err = fmt.Errorf("%w: %s (code %s)", ErrAuth, m.Message, m.Code)
		}
		if c.State().live() {
			c.log.Warn("signaling error during call", "code", m.Code, "message", m.Message)
			c.updateFailed(fmt.Errorf("%w: %s: %s", ErrProtocol, m.Code, m.Message))
			return
		}
		c.fail(err, 0, m.Message, false)
	}
}

// gatherWait bounds how long a description waits for the host
// candidates it will carry; fullGatherWait how long it waits for every
// candidate (STUN and TURN ones too) when the signaling cannot trickle.
const (
	gatherWait     = 2 * time.Second
	fullGatherWait = 10 * time.Second
)

// withCandidates returns the local description to send, sdp just set:
// with no STUN or TURN server to ask, the only candidates are the host's,
// gathered in a millisecond or two, so the description waits for them and
// carries them, and none is trickled. That is one message per call and
// side instead of one per candidate, plus one to end them: what lets a
// load run place hundreds of calls at once within the server's per-
// connection message rate. With ICE servers, or when gathering takes
// longer than gatherWait, candidates are trickled as they come, unless
// the signaling cannot trickle (Config.NoTrickle): then the description
// waits up to fullGatherWait and carries what was gathered by then.
func (c *Call) withCandidates(sdp string) string {
	wait := gatherWait
	switch {
	case c.p.cfg.NoTrickle:
		wait = fullGatherWait
	case len(c.p.cfg.ICEServers) > 0:
		return sdp
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-webrtc.GatheringCompletePromise(c.pc):
	case <-t.C:
		if !c.p.cfg.NoTrickle {
			return sdp
		}
		c.log.Warn("candidate gathering incomplete; sending the candidates gathered so far", "after", wait)
	case reason := <-c.hangups: // a hang-up while gathering: the loop takes it
		c.Hangup(reason)
		return sdp
	case <-c.ctx.Done(): // torn down while gathering
		return sdp
	}
	d := c.pc.LocalDescription()
	if d == nil {
		return sdp
	}
	c.mu.Lock()
	c.candidatesSent = true
	c.mu.Unlock()
	return d.SDP
}

// setRemoteDescription applies the far end's description. Its mDNS
// candidates are resolved by the phone and added once they are (mdns.go).
func (c *Call) setRemoteDescription(typ webrtc.SDPType, sdp string) error {
	sdp, named := splitMDNSCandidates(sdp)
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: sdp}); err != nil {
		return err
	}
	media, ufrag := parseSDP(sdp)
	if len(media) > 0 {
		ufrag = media[0].ufrag // a section's own, else the session's
	}
	c.mu.Lock()
	c.remoteUfrag = ufrag
	c.mu.Unlock()
	c.cands.addRemoteSDP(sdp)
	for _, rc := range named {
		index := uint16(max(rc.mLine, 0)) //nolint:gosec // a section index
		c.resolveCandidate(webrtc.ICECandidateInit{Candidate: rc.line, SDPMid: &rc.mid, SDPMLineIndex: &index, UsernameFragment: &rc.ufrag})
	}
	return nil
}

func (c *Call) addRemoteCandidate(cand webrtc.ICECandidateInit) {
	if isMDNSCandidate(cand.Candidate) {
		c.resolveCandidate(cand)
		return
	}
	ufrag := ""
	if cand.UsernameFragment != nil {
		ufrag = *cand.UsernameFragment
	} else {
		c.mu.Lock()
		ufrag = c.remoteUfrag
		c.mu.Unlock()
	}
	c.cands.addRemote(cand.Candidate, ufrag)
	if err := c.pc.AddICECandidate(cand); err != nil {
		c.log.Debug("remote candidate refused", "candidate", cand.Candidate, "err", err)
	}
}

// resolveCandidate resolves a far-end mDNS candidate in the background
// and hands it to the call's loop with its address.
func (c *Call) resolveCandidate(cand webrtc.ICECandidateInit) {
	if !c.addMediaWorker() {
		return
	}
	go func() {
		defer c.media.Done()
		name := candidateAddress(cand.Candidate)
		r, err := c.p.mdnsResolver()
		var addr netip.Addr
		if err == nil {
			addr, err = r.resolve(c.ctx, name)
		}
		if err != nil {
			c.log.Warn("far end's mDNS candidate not resolved", "candidate", cand.Candidate, "err", err)
			return
		}
		c.log.Debug("far end's mDNS candidate resolved", "name", name, "address", addr.String())
		cand.Candidate = withCandidateAddress(cand.Candidate, addr.String())
		c.post(pcEvent{resolved: &cand})
	}()
}

// preferOwnCodecs makes the answer state callstat's own format parameters
// for each codec rather than the offer's: what a description says is what
// its side wants to receive. pion copies the offer's otherwise, and a
// stereo=1 in the offer (Firefox's) would ask the far end for stereo that
// callstat only mixes down.
func preferOwnCodecs(tr *webrtc.RTPTransceiver, log *slog.Logger) {
	// Payload type 0: pion takes the negotiated one.
	if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{{RTPCodecCapability: audio.OpusCodec}}); err != nil {
		log.Debug("the far end offered no codec of ours", "err", err)
	}
}

func (c *Call) sentCandidatesInSDP() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.candidatesSent
}

// remoteEnd handles an "end" from the server or the far end.
func (c *Call) remoteEnd(status int, reason string) {
	if reason == "" {
		reason = signaling.StatusText(status)
	}
	t := Transition{StatusCode: status, ReasonText: reason}
	state := c.State()
	connected := state.live()
	err := errForStatus(status, connected)
	if err != nil {
		err = fmt.Errorf("%w: %s", err, reason)
	}
	if c.dir == Incoming && !connected {
		c.mu.Lock()
		answered := c.answered
		c.mu.Unlock()
		if !answered {
			c.setState(StateCancelled, t, err)
			return
		}
	}
	c.setState(StateEnded, t, err)
}

func (c *Call) onPCEvent(ev pcEvent) {
	switch {
	case ev.resolved != nil:
		c.addRemoteCandidate(*ev.resolved)
	case (ev.candidate != nil || ev.gathered) && c.sentCandidatesInSDP():
		// The description carried them.
	case ev.candidate != nil:
		init := ev.candidate.ToJSON()
		_ = c.p.send(signaling.Message{Type: signaling.TypeCandidate, CallID: c.id, Candidate: &signaling.Candidate{
			Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment,
		}})
	case ev.gathered:
		_ = c.p.send(signaling.Message{Type: signaling.TypeCandidate, CallID: c.id, Candidate: &signaling.Candidate{}})
	case ev.ice != webrtc.ICEConnectionStateUnknown:
		c.log.Debug("media connection state changed", "state", ev.ice.String())
		if h := c.p.cfg.Hooks.MediaChanged; h != nil {
			h(c, ev.ice)
		}
	case ev.conn != webrtc.PeerConnectionStateUnknown:
		switch ev.conn {
		case webrtc.PeerConnectionStateConnected:
			c.mu.Lock()
			answered := c.answered
			c.mu.Unlock()
			// Not when On Hold: a connection that comes back there does
			// not resume the call.
			if answered && !c.State().live() {
				c.setState(StateConnected, Transition{StatusCode: 200, ReasonText: "media connected"}, nil)
			}
		case webrtc.PeerConnectionStateDisconnected:
			c.log.Warn("media connection interrupted; waiting for it to recover")
		case webrtc.PeerConnectionStateFailed:
			err := fmt.Errorf("%w: ICE/DTLS connection failed", ErrMediaFailure)
			c.fail(err, signaling.StatusMediaFailure, "media connection failed", true)
		default:
		}
	}
}

func (c *Call) onRequest(r request) {
	var err error
	switch r.kind {
	case reqAnswer:
		err = c.answer()
	case reqReject:
		err = c.rejectReq(r.status, r.reason)
	case reqHold, reqResume:
		// Answered when the far end answers the new offer (hold.go).
		c.reoffer(r.kind == reqHold, r.reply)
		return
	}
	if r.reply != nil {
		r.reply <- err
	}
}

func (c *Call) answer() error {
	c.mu.Lock()
	state, answered := c.state, c.answered
	c.mu.Unlock()
	if c.dir != Incoming || answered || (state != StateRinging && state != StateInitiated) {
		return fmt.Errorf("%w: cannot answer a call in state %s", ErrInvalidState, state)
	}
	ans, err := c.pc.CreateAnswer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(ans)
	}
	if err != nil {
		err = fmt.Errorf("%w: creating answer: %v", ErrMediaFailure, err)
		c.fail(err, signaling.StatusMediaFailure, err.Error(), true)
		return err
	}
	if err := c.p.send(signaling.Message{Type: signaling.TypeAnswer, CallID: c.id, SDP: c.withCandidates(ans.SDP)}); err != nil {
		err = fmt.Errorf("%w: %v", ErrSignalingLost, err)
		c.fail(err, 0, "signaling connection lost", false)
		return err
	}
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	c.log.Info("answered")
	return nil
}

func (c *Call) rejectReq(status int, reason string) error {
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	if c.dir != Incoming || answered {
		return fmt.Errorf("%w: only an unanswered incoming call can be rejected", ErrInvalidState)
	}
	c.reject(status, reason)
	return nil
}

func (c *Call) reject(status int, reason string) {
	if status == 0 {
		status = signaling.StatusDeclined
	}
	if reason == "" {
		reason = signaling.StatusText(status)
	}
	_ = c.p.send(signaling.Message{Type: signaling.TypeReject, CallID: c.id, Status: status, Reason: reason})
	c.setState(StateEnded, Transition{StatusCode: status, ReasonText: "rejected locally: " + reason}, nil)
}

// hangup ends the call from this side.
func (c *Call) hangup(reason string) {
	if reason == "" {
		reason = "local hang-up"
	}
	c.mu.Lock()
	state, answered := c.state, c.answered
	c.mu.Unlock()
	switch {
	case state.live():
		c.endLocal(signaling.StatusNormal, reason, nil)
	case c.dir == Incoming && !answered:
		c.reject(signaling.StatusDeclined, reason)
	case c.dir == Incoming:
		c.endLocal(signaling.StatusNormal, reason, nil)
	default: // an outgoing call not connected yet
		c.endLocal(signaling.StatusCancelled, reason, fmt.Errorf("%w: %s", ErrInterrupted, reason))
	}
}

// endLocal ends the call and tells the far end: through the server, and in
// band when media flows, so that the far end learns it even when the server
// is gone or restarted without the call (hang-up.go).
func (c *Call) endLocal(status int, reason string, err error) {
	if c.State().live() {
		c.sendBye(status, reason)
	}
	if sendErr := c.p.send(signaling.Message{Type: signaling.TypeEnd, CallID: c.id, Status: status, Reason: reason}); sendErr != nil {
		c.log.Warn("could not tell the far end about the hang-up", "err", sendErr)
	}
	c.setState(StateEnded, Transition{StatusCode: status, ReasonText: reason}, err)
}

// fail ends the call with err; notify tells the far end.
func (c *Call) fail(err error, status int, reason string, notify bool) {
	if notify {
		_ = c.p.send(signaling.Message{Type: signaling.TypeEnd, CallID: c.id, Status: status, Reason: reason})
	}
	c.setState(StateEnded, Transition{StatusCode: status, ReasonText: reason}, err)
}

// teardown releases everything once the call is final. The order matters:
// the hooks read stats from a live PeerConnection, then callbacks are
// unblocked, then the connection closes, then its readers are awaited.
func (c *Call) teardown() {
	if !c.State().Final() {
		// Only reachable through a bug; never leave a call half alive.
		c.setState(StateEnded, Transition{ReasonText: "internal error"}, ErrProtocol)
	}
	if h := c.p.cfg.Hooks.CallEnding; h != nil {
		h(c)
	}
	c.mu.Lock()
	c.tornDown = true
	c.mu.Unlock()
	c.cancel()
	if c.pc != nil {
		if err := c.pc.GracefulClose(); err != nil {
			c.log.Debug("closing peer connection", "err", err)
		}
	}
	c.media.Wait()
	c.p.forget(c)
	close(c.done)
}
