package signaling

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/callstat/callstat/pkg/httpserve"
	"github.com/callstat/callstat/pkg/signaling/token"
)

// ServerConfig configures a Server. The zero value works.
type ServerConfig struct {
	Logger *slog.Logger
	// Software is announced in the welcome message, e.g. "callstat/1.2.0".
	Software string
	// PingInterval and PongWait set the keepalive: a connection that
	// answers no ping for PongWait is dropped and its calls ended.
	PingInterval time.Duration
	PongWait     time.Duration
	// HandshakeTimeout bounds the HTTP request that opens a connection
	// (TLS handshake, headers, WebSocket upgrade) when the server runs
	// through Serve.
	HandshakeTimeout time.Duration
	// CheckOrigin decides which browser origins may connect. nil means
	// AllowedOrigins.
	CheckOrigin func(r *http.Request) bool
	// AllowedOrigins lists the browser origins ("https://app.example.com",
	// "http://localhost:3000"; "*" for any) that may connect. Requests
	// without an Origin header (command-line clients) are always accepted.
	// Empty: only pages from the host the request was sent to, gorilla's
	// default.
	AllowedOrigins []string
	// Tokens, when set, makes the server require tokens of its realm: a
	// valid set on every call and a valid token on every registration.
	Tokens *token.Verifier
	// TLS, when set, makes Serve speak TLS (wss://).
	TLS *tls.Config

	// Limits. Zero means the default (the Default* constants), negative
	// means no limit.
	MessageRate             float64       // messages a second per connection, sustained
	MessageBurst            int           // messages per connection at once
	MaxConnsPerAddr         int           // open connections per remote IP address
	MaxRegistrationsPerAddr int           // registered ids per remote IP address
	IdleTimeout             time.Duration // close a connection with no registration and no call

	// Cluster, when set, makes the server one node of a signaling tier
	// (cluster.go); nil: the server is alone, as it always was.
	Cluster Cluster
	// Metrics, when set, is told what the server does (metrics.go).
	Metrics Metrics
}

// Server routes calls between connected participants. It holds no media:
// it only relays the offer/answer exchange and call control.
type Server struct {
	cfg      ServerConfig
	log      *slog.Logger
	upgrader websocket.Upgrader

	mu        sync.Mutex
	closing   bool
	conns     map[*peer]struct{}
	users     map[string]*peer
	calls     map[string]*route
	addrConns map[string]int // open connections per remote address
	addrRegs  map[string]int // registered ids per remote address

	handlers sync.WaitGroup
	served   atomic.Int64
}

// peer is the server's view of one client connection.
type peer struct {
	*wsConn
	id      string
	remote  string
	host    string
	users   map[string]struct{} // ids registered by this connection; guarded by Server.mu
	limiter *bucket             // used by the reader only
	// rejected counts an error sent back (Metrics.Rejected).
	rejected func(code string)

	// Guarded by Server.mu.
	lastActive time.Time // when it last had a registration or a call
	idleTimer  *time.Timer
}

// route is a call the server carries.
type route struct {
	id       string
	from, to string
	caller   *peer // nil: on another node of the cluster (remote)
	callee   *peer // nil: on another node of the cluster (remote)
	answered bool
	updater  *peer // sent an "update" whose "answer" is awaited
	// remoteUpdater: the party on another node sent an "update" whose
	// "answer" the party here owes.
	remoteUpdater bool
	remoteRoute
}

// NewServer returns a server ready to mount with Handler.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Software == "" {
		cfg.Software = "callstat"
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.MessageRate == 0 {
		cfg.MessageRate = DefaultMessageRate
	}
	if cfg.MessageBurst == 0 {
		cfg.MessageBurst = DefaultMessageBurst
	}
	if cfg.MaxConnsPerAddr == 0 {
		cfg.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if cfg.MaxRegistrationsPerAddr == 0 {
		cfg.MaxRegistrationsPerAddr = DefaultMaxRegistrationsPerAddr
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	if cfg.CheckOrigin == nil && len(cfg.AllowedOrigins) > 0 {
		cfg.CheckOrigin = OriginChecker(cfg.AllowedOrigins)
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		conns:     map[*peer]struct{}{},
		users:     map[string]*peer{},
		calls:     map[string]*route{},
		addrConns: map[string]int{},
		addrRegs:  map[string]int{},
	}
	if cfg.Cluster != nil {
		cfg.Cluster.Bind(clusterHandler{s})
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.HandshakeTimeout,
		ReadBufferSize:   4096,
		WriteBufferSize:  4096,
		CheckOrigin:      cfg.CheckOrigin,
	}
	return s
}

// Mount adds the WebSocket endpoint (/ws) and the health check (/healthz) to mux.
func (s *Server) Mount(mux *http.ServeMux) {
	mux.HandleFunc("/ws", s.ServeWS)
	mux.HandleFunc("/healthz", s.serveHealth)
}

// Handler serves the WebSocket endpoint at /ws and a health check at /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Mount(mux)
	return mux
}

// Health is the body of /healthz.
type Health struct {
	Status      string `json:"status"`
	Connections int    `json:"connections"`
	Registered  int    `json:"registered"`
	Calls       int    `json:"calls"`
}

// Health reports the server's current load.
func (s *Server) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := Health{Status: "ok", Connections: len(s.conns), Registered: len(s.users), Calls: len(s.calls)}
	if s.closing {
		h.Status = "shutting down"
	} else if c := s.cfg.Cluster; c != nil && c.Healthy() != nil {
		h.Status = "cluster unreachable"
	}
	return h
}

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	h := s.Health()
	w.Header().Set("Content-Type", "application/json")
	if h.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(h)
}

// ServeWS upgrades the request and serves one signaling connection until it
// ends. It is an http.HandlerFunc.
func (s *Server) ServeWS(w http.ResponseWriter, r *http.Request) {
	host := remoteHost(r.RemoteAddr)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.cfg.Metrics.Refused(RefusedShuttingDown)
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	if limit := s.cfg.MaxConnsPerAddr; limit > 0 && s.addrConns[host] >= limit {
		s.mu.Unlock()
		s.cfg.Metrics.Refused(RefusedTooManyConnections)
		s.log.Warn("connection refused: too many from one address", "remote", r.RemoteAddr, "limit", limit)
		http.Error(w, fmt.Sprintf("too many connections from %s (limit %d)", host, limit), http.StatusTooManyRequests)
		return
	}
	s.addrConns[host]++
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()
	defer func() {
		s.mu.Lock()
		if s.addrConns[host]--; s.addrConns[host] <= 0 {
			delete(s.addrConns, host)
		}
		s.mu.Unlock()
	}()

	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return // the upgrader already answered with an HTTP error
	}
	p := &peer{
		id:     uuid.NewString(),
		remote: r.RemoteAddr,
		host:   host,
		users:  map[string]struct{}{},
		// sendError knows the peer only: it counts through the peer.
		rejected: s.cfg.Metrics.Rejected,
	}
	if s.cfg.MessageRate > 0 && s.cfg.MessageBurst > 0 {
		p.limiter = newBucket(s.cfg.MessageRate, s.cfg.MessageBurst, time.Now())
	}
	log := s.log.With("conn", p.id[:8], "remote", r.RemoteAddr)
	p.wsConn = newWSConn(ws, log, connTiming{PingInterval: s.cfg.PingInterval, PongWait: s.cfg.PongWait})
	p.linger = closeLinger
	ws.SetPingHandler(func(data string) error { return s.onPing(p, data) })
	p.start()

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		p.close(errors.New("server shutting down"))
		return
	}
	s.conns[p] = struct{}{}
	p.lastActive = time.Now()
	s.armIdle(p)
	s.mu.Unlock()
	s.served.Add(1)
	s.cfg.Metrics.Connected()
	log.Debug("client connected")

	_ = p.send(Message{Type: TypeWelcome, Server: s.cfg.Software, Session: p.id})
	err = p.readLoop(func(kind int, data []byte) bool {
		if !p.limiter.allow(time.Now()) {
			s.rateLimited(p)
			return false
		}
		if kind == websocket.TextMessage { // binary frames are ignored
			s.handle(p, data)
		}
		return true
	})
	s.drop(p)
	p.close(err)
	log.Debug("client disconnected", "err", err)
}

// onPing answers a ping as gorilla's default handler does, but counts it
// against the message rate: pings cost the server a write each.
func (s *Server) onPing(p *peer, data string) error {
	if !p.limiter.allow(time.Now()) {
		s.rateLimited(p)
		return errRateLimited
	}
	err := p.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(p.writeWait))
	var ne net.Error
	if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) {
		return nil
	}
	return err
}

var errRateLimited = errors.New("message rate limit exceeded")

// rateLimited tells a flooding connection why and closes it. The flood
// costs the other connections nothing: each connection has its own reader.
func (s *Server) rateLimited(p *peer) {
	p.log.Warn("closing connection: message rate limit exceeded",
		"rate", s.cfg.MessageRate, "burst", s.cfg.MessageBurst)
	sendError(p, Message{}, ErrCodeRateLimited, fmt.Sprintf(
		"more than %g messages a second (burst %d); closing the connection", s.cfg.MessageRate, s.cfg.MessageBurst))
	p.cancel(&closeError{code: closePolicyViolation, text: errRateLimited.Error()})
}

// armIdle starts p's idle timer. Called with s.mu held.
func (s *Server) armIdle(p *peer) {
	if d := s.cfg.IdleTimeout; d > 0 {
		p.idleTimer = time.AfterFunc(d, func() { s.checkIdle(p) })
	}
}

// checkIdle closes p if it has had no registration and no call for the
// idle timeout, and otherwise looks again when that time could be up.
func (s *Server) checkIdle(p *peer) {
	d := s.cfg.IdleTimeout
	s.mu.Lock()
	if _, live := s.conns[p]; !live {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	if s.busy(p) {
		p.lastActive = now
	}
	if idle := now.Sub(p.lastActive); idle < d {
		p.idleTimer.Reset(d - idle)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	p.log.Info("closing idle connection: no registration and no call", "timeout", d)
	sendError(p, Message{}, ErrCodeIdleTimeout, fmt.Sprintf(
		"no registration and no call for %s; closing the connection", d))
	p.cancel(&closeError{code: closePolicyViolation, text: "idle timeout"})
}

// busy reports whether p holds a registration or is a party to a call.
// Called with s.mu held.
func (s *Server) busy(p *peer) bool {
	if len(p.users) > 0 {
		return true
	}
	for _, r := range s.calls {
		if r.caller == p || r.callee == p {
			return true
		}
	}
	return false
}

// handle processes one frame from p.
func (s *Server) handle(p *peer, data []byte) {
	m, err := Decode(data)
	if err != nil {
		var pe *ProtocolError
		code := ErrCodeBadMessage
		if errors.As(err, &pe) {
			code = pe.Code
		}
		p.log.Debug("rejected message", "err", err)
		sendError(p, m, code, err.Error())
		return
	}
	s.cfg.Metrics.Received(m.Type)
	switch m.Type {
	case TypeRegister:
		s.register(p, m)
	case TypeCall:
		s.placeCall(p, m)
	case TypeAnswer:
		if !s.answerUpdate(p, m) {
			s.fromCallee(p, m)
		}
	case TypeRinging, TypeReject:
		s.fromCallee(p, m)
	case TypeCandidate, TypeEnd, TypeUpdate:
		s.fromParty(p, m)
	default:
		sendError(p, m, ErrCodeBadMessage, fmt.Sprintf("%q messages are sent by the server, not to it", m.Type))
	}
}

// sendError answers m with an "error" that echoes its rid and callId. Those
// echoes can be nearly as large as m itself; if they make the answer too
// large for a frame it goes without them rather than not at all.
func sendError(p *peer, m Message, code, text string) {
	if p.rejected != nil {
		p.rejected(code)
	}
	e := Message{Type: TypeError, RID: m.RID, CallID: m.CallID, Code: code, Message: text}
	if err := p.send(e); errors.Is(err, ErrBadMessage) {
		e.RID, e.CallID = "", ""
		_ = p.send(e)
	}
}

// relay passes m on to the other party of a call. A message that no longer
// fits in a frame once re-encoded is refused back to its sender: sent on,
// it would make the receiver drop its whole connection at its read limit.
// It reports whether m went on (or failed only because to is gone, which
// drop deals with).
func (s *Server) relay(r *route, from, to *peer, orig, m Message) bool {
	if to == nil {
		return s.relayRemote(r, from, orig, m)
	}
	if err := to.send(m); errors.Is(err, ErrBadMessage) {
		sendError(from, orig, ErrCodeBadMessage, "not relayed: "+err.Error())
		return false
	}
	return true
}

// authCode is the SDK code a token rejection is reported with.
func authCode(err error) string {
	if code := token.Code(err); code != "" {
		return code
	}
	return ErrCodeInvalidToken
}

func (s *Server) register(p *peer, m Message) {
	// Tokens are checked first: a client without one learns nothing, not
	// even whether the id is taken.
	if v := s.cfg.Tokens; v != nil {
		if err := v.CheckUser(m.Token, m.User); err != nil {
			p.log.Warn("registration refused", "user", m.User, "err", err)
			sendError(p, m, authCode(err), fmt.Sprintf("registering %s: %v", clip(m.User), err))
			return
		}
	}
	s.mu.Lock()
	holder, taken := s.users[m.User]
	if taken && holder != p {
		s.mu.Unlock()
		sendError(p, m, ErrCodeAlreadyRegistered,
			fmt.Sprintf("%s is already registered by another connection", clip(m.User)))
		return
	}
	if !taken {
		if limit := s.cfg.MaxRegistrationsPerAddr; limit > 0 && s.addrRegs[p.host] >= limit {
			s.mu.Unlock()
			p.log.Warn("registration refused: too many from one address", "user", m.User, "limit", limit)
			sendError(p, m, ErrCodeLimitExceeded,
				fmt.Sprintf("too many ids registered from %s (limit %d)", p.host, limit))
			return
		}
		s.addrRegs[p.host]++
	}
	s.users[m.User] = p
	p.users[m.User] = struct{}{}
	s.mu.Unlock()
	if !taken && s.cfg.Cluster != nil && !s.claim(p, m) {
		return
	}
	if !taken {
		s.cfg.Metrics.Registered()
	}
	p.log.Info("participant registered", "user", m.User)
	_ = p.send(Message{Type: TypeRegistered, RID: m.RID, User: m.User})
}

func (s *Server) placeCall(p *peer, m Message) {
	if v := s.cfg.Tokens; v != nil {
		var set token.Set
		if c := m.Credentials; c != nil {
			set = token.Set{Realm: c.Realm, AccountToken: c.AccountToken, FromToken: c.FromToken, ToToken: c.ToToken}
		}
		if err := v.CheckCall(set, m.From, m.To); err != nil {
			p.log.Warn("call refused: bad credentials", "call", m.CallID, "from", m.From, "to", m.To, "err", err)
			sendError(p, m, authCode(err), "call not placed: "+err.Error())
			return
		}
	}
	incoming := Message{Type: TypeIncoming, CallID: m.CallID, From: m.From, To: m.To, SDP: m.SDP}
	// Checked before "trying" goes out: the caller must not hear that a call
	// was routed which the callee could never receive.
	if _, err := Encode(incoming); err != nil {
		sendError(p, m, ErrCodeBadMessage, "call not placed: "+err.Error())
		return
	}
	s.mu.Lock()
	if s.closing {
		// Shutdown has already ended the calls it knows of; a call placed
		// now would vanish with its connections instead of ending with 503.
		s.mu.Unlock()
		s.cfg.Metrics.CallEnded(StatusServerShutdown)
		_ = p.send(Message{Type: TypeEnd, CallID: m.CallID, Status: StatusServerShutdown,
			Reason: "signaling server shutting down"})
		return
	}
	if _, dup := s.calls[m.CallID]; dup {
		s.mu.Unlock()
		sendError(p, m, ErrCodeDuplicateCall, fmt.Sprintf("call id %s is already in use", clip(m.CallID)))
		return
	}
	callee, ok := s.users[m.To]
	if !ok && s.cfg.Cluster != nil {
		r := &route{id: m.CallID, from: m.From, to: m.To, caller: p, remoteRoute: remoteRoute{offering: true}}
		s.calls[m.CallID] = r
		s.handlers.Add(1)
		s.mu.Unlock()
		go func() { // the connection reads on meanwhile; r holds what comes
			defer s.handlers.Done()
			s.offer(p, r, m, incoming)
		}()
		return
	}
	if !ok {
		s.mu.Unlock()
		p.log.Info("call to unknown callee", "call", m.CallID, "from", m.From, "to", m.To)
		s.cfg.Metrics.CallEnded(StatusCalleeNotFound)
		_ = p.send(Message{Type: TypeEnd, CallID: m.CallID, Status: StatusCalleeNotFound,
			Reason: fmt.Sprintf("callee %s is not registered", clip(m.To))})
		return
	}
	r := &route{id: m.CallID, from: m.From, to: m.To, caller: p, callee: callee}
	s.calls[m.CallID] = r
	s.mu.Unlock()

	s.cfg.Metrics.CallRouted()
	p.log.Info("call routed", "call", m.CallID, "from", m.From, "to", m.To)
	_ = p.send(Message{Type: TypeTrying, CallID: m.CallID})
	if err := callee.send(incoming); err != nil {
		s.endRoute(r, nil, StatusPeerUnavailable, "callee connection failed")
	}
}

// lookup finds the route and checks that p is a party to it.
func (s *Server) lookup(p *peer, m Message) (*route, bool) {
	s.mu.Lock()
	r, ok := s.calls[m.CallID]
	s.mu.Unlock()
	if !ok {
		if m.Type != TypeEnd { // ending an already ended call is a normal race
			sendError(p, m, ErrCodeUnknownCall, fmt.Sprintf("no call with id %s", clip(m.CallID)))
		}
		return nil, false
	}
	if r.caller != p && r.callee != p {
		p.log.Warn("message for another connection's call refused", "type", m.Type, "call", m.CallID)
		sendError(p, m, ErrCodeNotAParty, fmt.Sprintf("this connection is not a party to call %s", clip(m.CallID)))
		return nil, false
	}
	return r, true
}

func (s *Server) fromCallee(p *peer, m Message) {
	r, ok := s.lookup(p, m)
	if !ok {
		return
	}
	if r.callee != p {
		sendError(p, m, ErrCodeNotAParty, fmt.Sprintf("only the callee may send %q", m.Type))
		return
	}
	switch m.Type {
	case TypeRinging:
		s.relay(r, p, r.caller, m, Message{Type: TypeRinging, CallID: r.id})
	case TypeAnswer:
		s.mu.Lock()
		already := r.answered
		r.answered = true
		s.mu.Unlock()
		if already {
			sendError(p, m, ErrCodeInvalidState, "call "+clip(r.id)+" is already answered")
			return
		}
		if !s.relay(r, p, r.caller, m, Message{Type: TypeAnswer, CallID: r.id, SDP: m.SDP}) {
			s.mu.Lock()
			r.answered = false // the caller never saw it
			s.mu.Unlock()
			return
		}
		s.cfg.Metrics.CallAnswered()
	case TypeReject:
		status := m.Status
		if status == 0 {
			status = StatusDeclined
		}
		reason := m.Reason
		if reason == "" {
			reason = StatusText(status)
		}
		s.endRoute(r, p, status, reason)
	}
}

// answerUpdate relays the answer to an "update" from the party that did
// not send it, either one. It reports whether m was that answer.
func (s *Server) answerUpdate(p *peer, m Message) bool {
	s.mu.Lock()
	r, ok := s.calls[m.CallID]
	if !ok || (r.caller != p && r.callee != p) {
		s.mu.Unlock()
		return false
	}
	var to *peer // nil: the updater is on another node
	switch {
	case r.remoteUpdater:
		r.remoteUpdater = false
	case r.updater != nil && r.updater != p:
		to = r.updater
		r.updater = nil
	default:
		s.mu.Unlock()
		return false
	}
	s.mu.Unlock()
	s.relay(r, p, to, m, Message{Type: TypeAnswer, CallID: r.id, SDP: m.SDP})
	return true
}

func (s *Server) fromParty(p *peer, m Message) {
	r, ok := s.lookup(p, m)
	if !ok {
		return
	}
	other := r.caller
	if p == r.caller {
		other = r.callee
	}
	switch m.Type {
	case TypeCandidate:
		s.relay(r, p, other, m, Message{Type: TypeCandidate, CallID: r.id, Candidate: m.Candidate})
	case TypeUpdate:
		// A new offer in an answered call (hold, resume); one at a time.
		s.mu.Lock()
		ok := r.answered && r.updater == nil && !r.remoteUpdater
		if ok {
			r.updater = p
		}
		s.mu.Unlock()
		if !ok {
			sendError(p, m, ErrCodeInvalidState, "call "+clip(r.id)+" is not answered, or has an update in progress")
			return
		}
		if !s.relay(r, p, other, m, Message{Type: TypeUpdate, CallID: r.id, SDP: m.SDP}) {
			s.mu.Lock()
			r.updater = nil
			s.mu.Unlock()
		}
	case TypeEnd:
		status := m.Status
		if status == 0 {
			s.mu.Lock()
			status = StatusNormal
			if !r.answered {
				status = StatusCancelled
			}
			s.mu.Unlock()
		}
		reason := m.Reason
		if reason == "" {
			reason = StatusText(status)
		}
		s.endRoute(r, p, status, reason)
	}
}

// endRoute forgets a call and tells every party except by (the one that
// ended it, if any) that it ended.
func (s *Server) endRoute(r *route, by *peer, status int, reason string) {
	s.finishRoute(r, by, true, status, reason)
}

// finishRoute is endRoute; tellRemote says whether a party on another node
// is told (not when the end came from there).
func (s *Server) finishRoute(r *route, by *peer, tellRemote bool, status int, reason string) {
	s.mu.Lock()
	if s.calls[r.id] != r {
		s.mu.Unlock()
		return
	}
	delete(s.calls, r.id)
	for _, party := range []*peer{r.caller, r.callee} {
		if party != nil {
			party.lastActive = time.Now()
		}
	}
	s.mu.Unlock()
	s.cfg.Metrics.CallEnded(status)
	s.log.Info("call ended", "call", r.id, "status", status, "reason", reason)
	end := Message{Type: TypeEnd, CallID: r.id, Status: status, Reason: reason}
	for _, party := range []*peer{r.caller, r.callee} {
		if party == nil && tellRemote {
			s.endRemote(r, end)
		}
		if party != by && party != nil {
			if err := party.send(end); errors.Is(err, ErrBadMessage) {
				// A huge reason must not keep the party from learning
				// that the call ended.
				end.Reason = StatusText(status)
				_ = party.send(end)
			}
		}
	}
}

// drop removes a disconnected peer: its registrations go, and each call it
// was in ends for the other party.
func (s *Server) drop(p *peer) {
	s.mu.Lock()
	delete(s.conns, p)
	if p.idleTimer != nil {
		p.idleTimer.Stop()
	}
	var released []string
	for u := range p.users {
		if s.users[u] == p {
			delete(s.users, u)
			released = append(released, u)
		}
	}
	if s.addrRegs[p.host] -= len(p.users); s.addrRegs[p.host] <= 0 {
		delete(s.addrRegs, p.host)
	}
	var orphaned []*route
	for _, r := range s.calls {
		if r.caller == p || r.callee == p {
			orphaned = append(orphaned, r)
		}
	}
	s.mu.Unlock()
	if c := s.cfg.Cluster; c != nil {
		for _, u := range released {
			c.Release(u)
		}
	}
	for _, r := range orphaned {
		who := "caller"
		if r.callee == p {
			who = "callee"
		}
		s.endRoute(r, p, StatusPeerUnavailable, who+" disconnected from the signaling server")
	}
}

// Shutdown ends every call with StatusServerShutdown, closes every
// connection and waits for their handlers, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	routes := make([]*route, 0, len(s.calls))
	for _, r := range s.calls {
		routes = append(routes, r)
	}
	peers := make([]*peer, 0, len(s.conns))
	for p := range s.conns {
		peers = append(peers, p)
	}
	s.mu.Unlock()

	for _, r := range routes {
		s.endRoute(r, nil, StatusServerShutdown, "signaling server shutting down")
	}
	for _, p := range peers {
		p.cancel(errors.New("server shutting down")) // the writer flushes, closes, and the reader returns
	}
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, p := range peers {
			_ = p.ws.Close()
		}
		<-done
		return fmt.Errorf("signaling: shutdown: %w", ctx.Err())
	}
}

// Serve serves h (normally Handler, or a mux that Mount extended) on ln until
// ctx is cancelled, then ends every call and shuts down within
// shutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener, h http.Handler, shutdownTimeout time.Duration) error {
	hs := &http.Server{
		Handler: h,
		// A client that opens a connection and sends its request slowly,
		// or not at all, is dropped after the handshake timeout; so is an
		// idle keep-alive connection that never upgrades.
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		IdleTimeout:       s.cfg.HandshakeTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.cfg.TLS != nil {
		cfg := s.cfg.TLS.Clone()
		cfg.NextProtos = []string{"http/1.1"} // WebSocket upgrades need HTTP/1.1
		ln = tls.NewListener(ln, cfg)
	}
	// The WebSocket connections are hijacked: the server's own Shutdown
	// ends them before the HTTP server waits for its requests.
	err := httpserve.Serve(ctx, hs, ln, shutdownTimeout, s.Shutdown)
	if err != nil && ctx.Err() == nil { // serving failed; a shutdown error says whose
		return fmt.Errorf("signaling: %w", err)
	}
	return err
}
