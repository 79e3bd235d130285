package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/callstat/callstat/pkg/signaling"
)

// Agent is one SIP user agent: an address of record, its WebSocket to one
// server, and its calls. It is built on sipgo's user agent, transaction
// layer, client, server and dialogs; what is callstat's is the user-agent
// logic: translating a phone's messages to SIP and back.
//
// An Agent outlives its connections. Each Dial opens a WebSocket and
// returns a Conn (one signaling session for a call.Phone); after the
// WebSocket drops, the phone dials again through the same Agent, and the
// calls set up before the drop are still its dialogs: hanging one up sends
// BYE on the new connection. Close the Agent after the phone.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	aor     sip.Uri // the address of record (User)
	id      string  // aor as a string: the phone's identity
	domain  string  // aor's host: the registrar, and the domain of bare callee ids
	via     string  // transport of our Via: WS or WSS
	viaHost string  // made-up .invalid host of Via (RFC 7118 §5)
	contact sip.Uri
	inst    string // +sip.instance

	ua     *sipgo.UserAgent
	client *sipgo.Client
	server *sipgo.Server
	dua    *sipgo.DialogUA
	parser *sip.Parser

	ctx    context.Context // cancelled by Close
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // every goroutine of ours, and sipgo's while in our handlers

	// hangups counts BYEs and CANCELs in flight, which closing the last
	// connection lets finish.
	hangups sync.WaitGroup

	dialMu sync.Mutex // one Dial at a time

	mu      sync.Mutex
	key     string // ip:port of the server: where every request goes
	dialing *Conn  // the Conn whose WebSocket is being opened
	cur     *Conn  // the Conn whose WebSocket is up
	dialogs map[string]*dialog
	closed  bool
}

// NewAgent checks cfg and prepares the user agent; Dial connects it.
func NewAgent(cfg Config) (*Agent, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("%w: URL %q must be ws://host:port[/path] or wss://…", ErrConfig, cfg.URL)
	}
	aor, err := parseID(cfg.User, "")
	if err != nil {
		return nil, fmt.Errorf("%w: User: %w", ErrConfig, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Expires <= 0 {
		cfg.Expires = DefaultExpires
	}
	if cfg.AuthUser == "" {
		cfg.AuthUser = aor.User
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = userAgent
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 5 * time.Second
	}
	a := &Agent{
		cfg:     cfg,
		log:     cfg.Logger.With("sip", aor.String()),
		aor:     aor,
		id:      aor.String(),
		domain:  aor.Host,
		via:     strings.ToUpper(u.Scheme),
		viaHost: randToken(12) + ".invalid",
		inst:    "<urn:uuid:" + uuid.NewString() + ">",
		parser:  sip.NewParser(),
		dialogs: map[string]*dialog{},
	}
	// RFC 7118 §5: the client has no reachable address; the host is made
	// up and the server sends everything down this WebSocket. ";ob" asks
	// for that (RFC 5626), as JsSIP and SIP.js do.
	a.contact = sip.Uri{Scheme: "sip", User: randToken(8), Host: a.viaHost,
		UriParams: params("transport", strings.ToLower(a.via), "ob", "")}
	a.ctx, a.cancel = context.WithCancelCause(context.Background())

	lg := sipgoLogger(a.log)
	a.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentHostname(a.domain),
		sipgo.WithUserAgenTLSConfig(cfg.TLSConfig),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(lg),
			sip.WithTransportLayerReadFilter(a.readFilter),
			sip.WithTransportLayerTransports(sip.TransportsConfig{WS: a.newTransport()}),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(lg),
			// A transaction on a connection that dropped ends at once,
			// instead of waiting for its timer.
			sip.WithTransactionLayerTerminateOnConnClose(),
			sip.WithTransactionLayerUnhandledResponseHandler(func(res *sip.Response) {
				a.log.Debug("SIP response to no transaction of ours", "response", res.StartLine())
			}),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	if a.client, err = sipgo.NewClient(a.ua, sipgo.WithClientLogger(lg), sipgo.WithClientHostname(a.viaHost)); err != nil {
		_ = a.ua.Close()
		return nil, fmt.Errorf("sip: client: %w", err)
	}
	a.client.TxRequester = outbound{a: a}
	if a.server, err = sipgo.NewServer(a.ua, sipgo.WithServerLogger(lg)); err != nil {
		_ = a.ua.Close()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	a.dua = &sipgo.DialogUA{Client: a.client, ContactHDR: sip.ContactHeader{Address: a.contact}}
	a.server.OnInvite(a.handler(a.onInvite))
	a.server.OnAck(a.handler(a.onAck))
	a.server.OnBye(a.handler(a.onBye))
	a.server.OnCancel(a.handler(a.onCancel))
	a.server.OnUpdate(a.handler(a.onReoffer))
	a.server.OnOptions(a.handler(a.onOptions))
	a.server.OnNoRoute(a.handler(a.onOther))
	return a, nil
}

// ID is the agent's address of record, normalised: the identity a phone
// must use so that its incoming calls match.
func (a *Agent) ID() string { return a.id }

// Dial opens the WebSocket and, with Config.Register, registers User
// (answering the server's digest challenge). The error wraps
// signaling.ErrUnreachable when the server cannot be reached,
// signaling.ErrRegisterFailed (and signaling.ErrAuth) when the
// registration is refused. One Conn at a time: Dial again after the
// previous one has ended.
func (a *Agent) Dial(ctx context.Context) (*Conn, error) {
	a.dialMu.Lock()
	defer a.dialMu.Unlock()
	a.mu.Lock()
	closed, cur := a.closed, a.cur
	a.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%w: the SIP agent is closed", signaling.ErrClosed)
	}
	if cur != nil {
		return nil, fmt.Errorf("sip: %s is connected already; Dial again after its Conn has ended", a.cfg.URL)
	}
	key, err := resolve(ctx, a.cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", signaling.ErrUnreachable, a.cfg.URL, err)
	}
	c := newConn(a, key)
	a.mu.Lock()
	a.key, a.dialing = key, c
	a.mu.Unlock()
	// sipgo's transport opens the connection (through our dialer) as it
	// would for a request to the server; the request itself is not sent.
	probe := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: a.aor.Scheme, Host: a.domain})
	probe.AppendHeader(a.newVia())
	probe.SetTransport(internalTransport)
	probe.SetDestination(key)
	conn, err := a.ua.TransportLayer().ClientRequestConnection(ctx, probe)
	a.mu.Lock()
	a.dialing = nil
	a.mu.Unlock()
	c.pooled()
	if err != nil {
		if status := c.httpStatus(); status != "" {
			return nil, fmt.Errorf("%w: %s: HTTP %s (is it a SIP over WebSocket endpoint?)", signaling.ErrUnreachable, a.cfg.URL, status)
		}
		return nil, fmt.Errorf("%w: %s: %v", signaling.ErrUnreachable, a.cfg.URL, err)
	}
	// ClientRequestConnection counts us as a user of the connection; the
	// transport keeps it open while its reader runs.
	_, _ = conn.TryClose()
	if c.socket() == nil {
		return nil, fmt.Errorf("%w: %s: sipgo reused a connection callstat did not open", signaling.ErrUnreachable, a.cfg.URL)
	}
	a.mu.Lock()
	if c.isEnded() {
		a.mu.Unlock()
		return nil, fmt.Errorf("%w: %s: the WebSocket closed at once: %v", signaling.ErrUnreachable, a.cfg.URL, c.Err())
	}
	a.cur = c
	a.mu.Unlock()
	a.log.Debug("SIP WebSocket connected", "url", a.cfg.URL, "addr", key)
	if a.cfg.Register {
		if err := c.register(ctx); err != nil {
			c.abort()
			return nil, err
		}
	}
	return c, nil
}

// resolve is the address of a ws:// or wss:// URL's host (IPv4 first, as
// sipgo prefers).
func resolve(ctx context.Context, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "wss" {
			port = "443"
		}
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", err
	}
	ip := addrs[0].IP
	for _, a := range addrs {
		if a.IP.To4() != nil {
			ip = a.IP
			break
		}
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// Close ends the connection (un-registering first) and every call still
// known, without telling anyone (the phone hangs up first), and waits for
// every goroutine.
func (a *Agent) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		a.wg.Wait()
		return nil
	}
	a.closed = true
	cur := a.cur
	a.mu.Unlock()
	if cur != nil {
		_ = cur.Close()
	}
	// A call still ringing is abandoned, not cancelled (sipgo's
	// WaitAnswer would send CANCEL and wait for its 487).
	a.cancel(sipgo.WaitAnswerForceCancelErr)
	_ = a.ua.Close()
	a.wg.Wait()
	return nil
}

// goOwned starts a goroutine owned by the agent, unless it is closing.
func (a *Agent) goOwned(f func()) bool {
	if !a.enter() {
		return false
	}
	go func() {
		defer a.wg.Done()
		f()
	}()
	return true
}

// enter counts the caller as one of the agent's goroutines (false once
// the agent is closing).
func (a *Agent) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.ctx.Err() != nil {
		return false
	}
	a.wg.Add(1)
	return true
}

// current is the Conn whose WebSocket is up (nil while the phone
// reconnects).
func (a *Agent) current() *Conn {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

// emit hands a message to the phone through the current connection. With
// none (the WebSocket dropped), the message is dropped: the phone has
// ended the calls that needed it.
func (a *Agent) emit(m signaling.Message) {
	if c := a.current(); c != nil {
		c.emit(m)
		return
	}
	a.log.Debug("no SIP connection to report to; dropped", "type", m.Type, "call", m.CallID)
}

// handler wraps a request handler: it runs in a goroutine of sipgo's
// transaction layer, which the agent counts while it is in our code; a
// closing agent answers 503.
func (a *Agent) handler(f func(*sip.Request, sip.ServerTransaction)) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if !a.enter() {
			_ = a.respond(tx, sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
			return
		}
		defer a.wg.Done()
		if req.From() == nil || req.To() == nil || req.CallID() == nil {
			a.log.Warn("ignoring a SIP request without From, To or Call-ID", "request", req.StartLine())
			return
		}
		if req.CSeq().MethodName != req.Method && !req.IsAck() && !req.IsCancel() {
			a.log.Warn("refusing a SIP request whose CSeq method differs", "request", req.StartLine(), "cseq", req.CSeq().String())
			_ = a.respond(tx, sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
			return
		}
		f(req, tx)
	}
}

// newVia is our Via for a new transaction: the made-up host of RFC 7118
// and a fresh RFC 3261 branch.
func (a *Agent) newVia() *sip.ViaHeader {
	return &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: a.via, Host: a.viaHost,
		Params: params("branch", sip.GenerateBranch())}
}

// waitFinal waits for the final response of a client transaction.
func waitFinal(ctx context.Context, tx sip.ClientTransaction) (*sip.Response, error) {
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, txError(tx.Err())
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// txError says why a transaction ended without a final response.
func txError(err error) error {
	switch {
	case errors.Is(err, sip.ErrTransactionTimeout):
		return fmt.Errorf("%w within %s (Timer B/F)", ErrTimeout, sip.Timer_B)
	case errors.Is(err, sip.ErrTransactionTransport):
		return fmt.Errorf("%w: the SIP WebSocket dropped: %v", signaling.ErrClosed, err)
	case err == nil:
		return errors.New("sip: transaction ended without a response")
	}
	return err
}

// statusText is "code phrase".
func statusText(res *sip.Response) string { return strconv.Itoa(res.StatusCode) + " " + res.Reason }
