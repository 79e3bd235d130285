// Package call places and answers audio calls: a Phone is one signaling
// identity with its WebRTC stack; a Call is one PeerConnection with its state
// machine (state.go, documented in docs/call-states.md).
package call

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/call/rtcpxr"
	"github.com/callstat/callstat/pkg/call/rtpstats"
	"github.com/callstat/callstat/pkg/netem"
	"github.com/callstat/callstat/pkg/signaling"
)

// Hooks let the application follow calls. Each runs on the call's own
// goroutine and must return promptly.
type Hooks struct {
	// CallStarted runs when a call is placed or received, before any media.
	CallStarted func(*Call)
	// StateChanged runs after every state change.
	StateChanged func(*Call, StateChange)
	// MediaChanged runs when the ICE connection state changes (the SDK's
	// call:mediaConnectionChange).
	MediaChanged func(*Call, webrtc.ICEConnectionState)
	// CallEnding runs once the call is in a final state but before its
	// PeerConnection closes: the last moment its stats can be read.
	CallEnding func(*Call)
	// SignalingChanged runs when the connection to the signaling server
	// drops, before each reconnection attempt, on reconnection and when the
	// phone gives up (see SignalingChange). It runs on the phone's
	// dispatcher and must return promptly.
	SignalingChanged func(*Phone, SignalingChange)
}

// Join returns hooks that run h's hooks, then other's.
func (h Hooks) Join(other Hooks) Hooks {
	return Hooks{
		CallStarted: func(c *Call) {
			if h.CallStarted != nil {
				h.CallStarted(c)
			}
			if other.CallStarted != nil {
				other.CallStarted(c)
			}
		},
		StateChanged: func(c *Call, ch StateChange) {
			if h.StateChanged != nil {
				h.StateChanged(c, ch)
			}
			if other.StateChanged != nil {
				other.StateChanged(c, ch)
			}
		},
		MediaChanged: func(c *Call, s webrtc.ICEConnectionState) {
			if h.MediaChanged != nil {
				h.MediaChanged(c, s)
			}
			if other.MediaChanged != nil {
				other.MediaChanged(c, s)
			}
		},
		CallEnding: func(c *Call) {
			if h.CallEnding != nil {
				h.CallEnding(c)
			}
			if other.CallEnding != nil {
				other.CallEnding(c)
			}
		},
		SignalingChanged: func(p *Phone, ch SignalingChange) {
			if h.SignalingChanged != nil {
				h.SignalingChanged(p, ch)
			}
			if other.SignalingChanged != nil {
				other.SignalingChanged(p, ch)
			}
		},
	}
}

// Config configures a Phone.
type Config struct {
	// ServerURL is the signaling server's WebSocket URL.
	ServerURL string
	// Identity is who this phone is: the registered id of an answerer, the
	// "from" of an anonymous caller.
	Identity string
	// Register makes the phone register Identity so that it can receive calls.
	Register bool
	// Source is the audio every call sends.
	Source *audio.Source
	// RecordPath, when set, names the WAV file that records what a call
	// hears ("" for none). It is asked once per call, when the far end's
	// audio arrives.
	RecordPath func(c *Call) string
	// SkipDecode leaves the far end's audio undecoded: each call counts
	// the samples and concealment of what it receives from the packets
	// alone, and its inbound-rtp has no audio level, energy or duration
	// (load mode: decoding is most of a call's cost). RecordPath needs
	// decoding.
	SkipDecode bool
	// ICEServers are STUN/TURN servers; none are needed on one host.
	ICEServers []webrtc.ICEServer
	// ICELoopback restricts ICE to loopback addresses, for tests and demos
	// on one machine: no packet leaves the host.
	ICELoopback bool
	// Network, when set, imposes network conditions (delay, jitter, loss,
	// a rate limit, duplication) on every UDP socket the phone's calls
	// open, and so on everything they carry: media, RTCP, DTLS and the ICE
	// connectivity and consent checks, as on a real link. Each call's
	// sockets get their own links (docs/network.md).
	Network *netem.Emulator
	// AnswerTimeout bounds how long an outgoing call waits for an answer.
	AnswerTimeout time.Duration
	// ICEDisconnectedTimeout is how long a connected call may receive
	// nothing from the far end before its media is "disconnected";
	// ICEFailedTimeout how much longer before it is "failed", which ends
	// the call (DefaultICEDisconnectedTimeout and DefaultICEFailedTimeout
	// when zero: pion's own defaults).
	ICEDisconnectedTimeout time.Duration
	ICEFailedTimeout       time.Duration
	// ReconnectAttempts is how many times the phone redials the signaling
	// server after its connection drops (0: never; SignalingDone closes at
	// once). It waits ReconnectDelay (DefaultReconnectDelay when zero)
	// before the first attempt and twice as long after each failure, up to
	// maxReconnectDelay.
	ReconnectAttempts int
	ReconnectDelay    time.Duration
	Logger            *slog.Logger
	Hooks             Hooks
	// IncomingQueue is how many unanswered incoming calls may wait for the
	// application; more are refused as busy.
	IncomingQueue int
	// TLSConfig is used for wss:// server URLs (nil: system roots).
	TLSConfig *tls.Config
	// Credentials go with every call this phone places, for servers that
	// require tokens; RegisterToken with its registration.
	Credentials   *signaling.Credentials
	RegisterToken string
	// Dial, when set, opens the phone's signaling session instead of
	// connecting to ServerURL with callstat's own protocol (SIP does this).
	// It registers Identity when the phone registers, and is called again
	// to reconnect after the session drops.
	Dial func(ctx context.Context) (signaling.Conn, error)
	// NoTrickle makes every description wait for all of its candidates and
	// carry them, whatever the ICE servers: for signaling that cannot
	// trickle candidates (SIP servers expect complete offers and answers).
	NoTrickle bool
}

// Phone is one identity on a signaling server, able to place and receive
// calls. When its signaling connection drops it reconnects (and registers
// again) in the background; connected calls keep their media meanwhile.
// Close ends every call.
type Phone struct {
	cfg  Config
	log  *slog.Logger
	api  *webrtc.API
	cert webrtc.Certificate
	pnet *phoneNet

	// The resolver of the far ends' mDNS candidates, opened by the first
	// one (mdns.go).
	mdnsMu     sync.Mutex
	mdns       *mdnsResolver
	mdnsClosed bool

	// newPC serialises PeerConnection creation so that the getters our
	// interceptors report during NewPeerConnection can be matched to the
	// connection being created.
	newPC    sync.Mutex
	statsFor *rtpstats.Interceptor
	xrFor    rtcpxr.Getter

	incoming chan *Call

	mu       sync.Mutex
	sig      signaling.Conn // nil while reconnecting
	connDone chan struct{}  // closed once everything sig brought has been routed
	calls    map[string]*Call
	closed   bool

	ctx      context.Context // cancelled by Close: stops reconnecting
	cancel   context.CancelFunc
	wg       sync.WaitGroup // dispatcher and every call's goroutines
	dispDone chan struct{}
	sigErr   error
}

// NewPhone connects to the signaling server (and registers, if asked).
func NewPhone(ctx context.Context, cfg Config) (*Phone, error) {
	if cfg.Source == nil {
		return nil, errors.New("call: Config.Source is required")
	}
	if cfg.Identity == "" {
		return nil, errors.New("call: Config.Identity is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AnswerTimeout <= 0 {
		cfg.AnswerTimeout = 60 * time.Second
	}
	if cfg.IncomingQueue <= 0 {
		cfg.IncomingQueue = 64
	}
	if cfg.ReconnectDelay <= 0 {
		cfg.ReconnectDelay = DefaultReconnectDelay
	}
	pnet, err := newPhoneNet()
	if err != nil {
		return nil, err
	}
	p := &Phone{pnet: pnet}
	api, err := newAPI(cfg, pnet,
		func(_ string, i *rtpstats.Interceptor) { p.statsFor = i },
		func(_ string, g rtcpxr.Getter) { p.xrFor = g })
	if err != nil {
		return nil, err
	}
	// One certificate per phone: generating one per call costs setup time
	// and buys nothing, as every call of the phone is the same party.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("call: certificate key: %w", err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, fmt.Errorf("call: certificate: %w", err)
	}
	p.cfg, p.log, p.api, p.cert = cfg, cfg.Logger.With("participant", cfg.Identity), api, *cert
	sig, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.sig, p.connDone = sig, make(chan struct{})
	p.incoming = make(chan *Call, cfg.IncomingQueue)
	p.calls = map[string]*Call{}
	p.dispDone = make(chan struct{})
	p.wg.Add(1)
	go p.dispatch(sig)
	return p, nil
}

// connect opens a signaling session: Config.Dial when set, otherwise
// callstat's own server, registering if the phone does.
func (p *Phone) connect(ctx context.Context) (signaling.Conn, error) {
	if p.cfg.Dial != nil {
		return p.cfg.Dial(ctx)
	}
	sig, err := signaling.Dial(ctx, signaling.ClientConfig{URL: p.cfg.ServerURL, Logger: p.log, TLSConfig: p.cfg.TLSConfig})
	if err != nil {
		return nil, err
	}
	if p.cfg.Register {
		if _, err := sig.Request(ctx, signaling.Message{Type: signaling.TypeRegister, User: p.cfg.Identity, Token: p.cfg.RegisterToken}); err != nil {
			_ = sig.Close()
			if se := (*signaling.ServerError)(nil); errors.As(err, &se) && signaling.IsAuthCode(se.Code) {
				return nil, fmt.Errorf("%w: %w: %s (code %s)", ErrRegisterFailed, ErrAuth, se.Message, se.Code)
			}
			return nil, fmt.Errorf("%w: %s: %v", ErrRegisterFailed, p.cfg.Identity, err)
		}
		p.log.Info("registered", "server", p.cfg.ServerURL)
	}
	return sig, nil
}

// pcGetters are what a PeerConnection's own interceptors measure.
type pcGetters struct {
	rtp *rtpstats.Interceptor // RTP stream figures, and the RTCP reports that carry them
	xr  rtcpxr.Getter         // round-trip times from RTCP XR (remote-outbound-rtp)
}

// newPeerConnection creates a PeerConnection and returns it with the
// getters of its interceptors.
func (p *Phone) newPeerConnection(cfg webrtc.Configuration) (*webrtc.PeerConnection, pcGetters, error) {
	p.newPC.Lock()
	defer p.newPC.Unlock()
	p.statsFor, p.xrFor = nil, nil
	pc, err := p.api.NewPeerConnection(cfg)
	if err != nil {
		return nil, pcGetters{}, err
	}
	return pc, pcGetters{rtp: p.statsFor, xr: p.xrFor}, nil
}

func newAPI(cfg Config, pnet *phoneNet, onStats func(string, *rtpstats.Interceptor), onXR rtcpxr.NewPeerConnectionCallback) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: audio.OpusCodec,
		PayloadType:        audio.OpusPayloadType,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("call: registering opus: %w", err)
	}
	ir := &interceptor.Registry{}
	// callstat's own statistics see every RTP and RTCP packet and send the
	// RTCP sender and receiver reports from the same figures
	// (pkg/call/rtpstats). Registered first, it is the innermost: it
	// counts what reaches the network and sees the RTCP the others write.
	statsFactory := rtpstats.NewFactory()
	statsFactory.OnNewPeerConnection(onStats)
	ir.Add(statsFactory)
	// RTCP XR round-trip times for remote-outbound-rtp.
	xrFactory := rtcpxr.NewFactory()
	xrFactory.OnNewPeerConnection(onXR)
	ir.Add(xrFactory)
	// None of pion's default interceptors: its RTCP report interceptors
	// are replaced by ours (they kept figures of their own), and NACK,
	// the simulcast headers and TWCC serve video or a congestion
	// controller nobody runs, at a cost per packet.
	se := webrtc.SettingEngine{LoggerFactory: PionLoggerFactory{Logger: cfg.Logger}}
	se.SetNet(pnet.under(cfg.Network))
	// pion's mDNS would open a multicast socket per connection; the far
	// end's mDNS candidates are resolved by the phone instead (mdns.go),
	// and our own host candidates keep their addresses.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// pion takes an explicit zero as "never", so the defaults are spelled
	// out. Consent checks go out at least twice per disconnected timeout,
	// so that a pair that is alive but silent never looks dead; each
	// response also updates the candidate pair's currentRoundTripTime.
	disconnected, failed := cfg.ICEDisconnectedTimeout, cfg.ICEFailedTimeout
	if disconnected <= 0 {
		disconnected = DefaultICEDisconnectedTimeout
	}
	if failed <= 0 {
		failed = DefaultICEFailedTimeout
	}
	se.SetICETimeouts(disconnected, failed, min(2*time.Second, disconnected/2))
	// A far end that closes its connection sends a DTLS close_notify; by
	// default pion then closes ours at once, before its final stats can be
	// read. The call notices the close and ends itself instead.
	se.DisableCloseByDTLS(true)
	if cfg.ICELoopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(pnet.isLoopback)
		se.SetIPFilter(net.IP.IsLoopback)
		// A far end on this host may offer its other addresses (a browser's
		// mDNS candidate resolves to its LAN address): traffic to them
		// does not leave the host either.
		se.SetRemoteIPFilter(func(ip net.IP) bool { return ip.IsLoopback() || pnet.isLocalIP(ip) })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Identity is who this phone is.
func (p *Phone) Identity() string { return p.cfg.Identity }

// Incoming delivers calls received by a registered phone, in state Ringing.
// The application answers or rejects each one.
func (p *Phone) Incoming() <-chan *Call { return p.incoming }

// SignalingDone is closed when the phone has lost its signaling server for
// good: the connection dropped and every reconnection attempt failed (or
// none was allowed). SignalingErr then says why. Calls already connected
// keep their media.
func (p *Phone) SignalingDone() <-chan struct{} { return p.dispDone }

// SignalingErr is why the phone lost its signaling server (it wraps
// ErrSignalingLost); nil before SignalingDone is closed.
func (p *Phone) SignalingErr() error {
	select {
	case <-p.dispDone:
		return p.sigErr
	default:
		return nil
	}
}

// Calls returns the calls in progress.
func (p *Phone) Calls() []*Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Call, 0, len(p.calls))
	for _, c := range p.calls {
		out = append(out, c)
	}
	return out
}

// Dial places an anonymous call to callee. The call progresses on its own;
// wait on Connected and Done.
func (p *Phone) Dial(ctx context.Context, callee string) (*Call, error) {
	if callee == "" {
		return nil, errors.New("call: callee is required")
	}
	c, err := p.newCall(uuid.NewString(), Outgoing, callee)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		c.abandon(err)
		return nil, err
	}
	c.start(func() { c.runOutgoing() })
	return c, nil
}

// newCall registers a call with the phone. The caller must start it.
func (p *Phone) newCall(id string, dir Direction, remote string) (*Call, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if _, dup := p.calls[id]; dup {
		return nil, fmt.Errorf("%w: duplicate call id %s", ErrProtocol, id)
	}
	c := newCall(p, id, dir, remote)
	// A call that is not connected yet cannot outlive the signaling
	// connection it was set up on: another server knows nothing of it.
	c.sigDone = p.connDone
	p.calls[id] = c
	p.wg.Add(1) // released by the call's run goroutine, or by abandon
	return c, nil
}

func (p *Phone) forget(c *Call) {
	p.mu.Lock()
	if p.calls[c.id] == c {
		delete(p.calls, c.id)
	}
	p.mu.Unlock()
}

func (p *Phone) lookup(id string) *Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id]
}

// send hands a message to the signaling connection; failures are logged by
// the caller's context since a lost server must not stop a call's media.
func (p *Phone) send(m signaling.Message) error {
	p.mu.Lock()
	sig := p.sig
	p.mu.Unlock()
	if sig == nil {
		return fmt.Errorf("%w: reconnecting to the signaling server", ErrSignalingLost)
	}
	return sig.Send(m)
}

// dispatch routes server messages to calls, reconnecting whenever the
// connection drops, until the phone closes or gives up.
func (p *Phone) dispatch(sig signaling.Conn) {
	defer p.wg.Done()
	defer close(p.dispDone)
	for sig != nil {
		p.route(sig)
		lost := sig.Err()
		_ = sig.Close() // its writer; idempotent
		p.mu.Lock()
		closed := p.closed
		p.sig = nil
		// After the routing: a call hears what the server said before it
		// went (an "end" 503, say) before it hears that it went.
		close(p.connDone)
		p.mu.Unlock()
		if closed {
			p.sigErr = fmt.Errorf("%w: %w", ErrSignalingLost, ErrClosed)
			return
		}
		p.log.Warn("signaling connection lost; calls in progress keep their media", "err", lost)
		p.signalingChanged(SignalingChange{State: SignalingDisconnected, Err: lost})
		sig = p.reconnect(lost)
	}
}

// route delivers what one connection brings until it ends.
func (p *Phone) route(sig signaling.Conn) {
	for m := range sig.Messages() {
		switch m.Type {
		case signaling.TypeIncoming:
			p.receive(m)
		case signaling.TypeError:
			if c := p.lookup(m.CallID); c != nil {
				c.deliver(m)
				continue
			}
			p.log.Warn("signaling server reported an error", "code", m.Code, "message", m.Message)
		default:
			if c := p.lookup(m.CallID); c != nil {
				c.deliver(m)
				continue
			}
			p.log.Debug("message for unknown call", "type", m.Type, "call", m.CallID)
		}
	}
}

func (p *Phone) receive(m signaling.Message) {
	if !p.cfg.Register || m.To != p.cfg.Identity {
		_ = p.send(signaling.Message{Type: signaling.TypeReject, CallID: m.CallID,
			Status: signaling.StatusCalleeNotFound, Reason: "not registered here as " + m.To})
		return
	}
	c, err := p.newCall(m.CallID, Incoming, m.From)
	if err != nil {
		p.log.Warn("refusing incoming call", "call", m.CallID, "err", err)
		_ = p.send(signaling.Message{Type: signaling.TypeReject, CallID: m.CallID,
			Status: signaling.StatusBusy, Reason: err.Error()})
		return
	}
	c.offer = m.SDP
	c.start(func() { c.runIncoming() })
}

// Close hangs up every call, closes the signaling connection and waits for
// every goroutine the phone started.
func (p *Phone) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	calls := make([]*Call, 0, len(p.calls))
	for _, c := range p.calls {
		calls = append(calls, c)
	}
	p.mu.Unlock()

	for _, c := range calls {
		c.Hangup("local phone closed")
	}
	for _, c := range calls {
		<-c.Done()
	}
	p.cancel() // stops a reconnection in progress
	p.closeMDNS()
	p.mu.Lock()
	sig := p.sig
	p.mu.Unlock()
	if sig != nil {
		_ = sig.Close()
	}
	p.wg.Wait()
	// Calls queued for the application but never taken.
	close(p.incoming)
	return nil
}
