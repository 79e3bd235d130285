package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/callstat/callstat/pkg/signaling"
)

// Defaults.
const (
	// DefaultExpires is the registration lifetime asked for, as JsSIP and
	// SIP.js ask.
	DefaultExpires = 600 * time.Second
	// maxFrameBytes bounds one SIP message: RFC 7118 puts one message in
	// a frame, and an audio call's INVITE is a few kilobytes.
	maxFrameBytes = 64 << 10
	// writeTimeout bounds one frame's write.
	writeTimeout = 10 * time.Second
	// unregisterTimeout bounds the un-REGISTER on Close.
	unregisterTimeout = 2 * time.Second
	// inboxSize is how many messages may wait for the phone.
	inboxSize = 64
	// userAgent names callstat in User-Agent headers.
	userAgent = "callstat"
)

// allowed is what this user agent answers (Allow header).
const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE"

// Config configures a SIP user agent over WebSocket.
type Config struct {
	// URL is the server's WebSocket URL: ws://host:port[/path] or
	// wss://host:port[/path] (subprotocol "sip", RFC 7118).
	URL string
	// User is this party's address of record: sip:alice@example.com, or
	// alice@example.com (NormalizeID). An anonymous caller uses it as
	// From; without Register nothing is registered.
	User string
	// Register makes Dial REGISTER User (and un-REGISTER it on Close), so
	// that calls to it arrive.
	Register bool
	// AuthUser is the digest username (default: the user part of User).
	AuthUser string
	// Password answers digest challenges (REGISTER, INVITE, BYE). Never
	// logged.
	Password string
	// Expires is the registration lifetime asked for (DefaultExpires when
	// zero); the registration is refreshed before it runs out.
	Expires time.Duration
	// DisplayName goes in From and Contact (optional).
	DisplayName string
	// UserAgent is the User-Agent header ("callstat" when empty).
	UserAgent string
	// TLSConfig is used for wss:// (nil: system roots).
	TLSConfig *tls.Config
	// HandshakeTimeout bounds the WebSocket opening (5 s when zero).
	HandshakeTimeout time.Duration
	Logger           *slog.Logger
	// Trace logs every SIP message sent and received, at debug level
	// (credentials are hashed in digest headers; SDP is logged whole).
	Trace bool
}

// Conn is one SIP user agent on one WebSocket: a signaling.Conn that a
// call.Phone drives. See the package documentation for the mapping.
type Conn struct {
	cfg     Config
	log     *slog.Logger
	aor     sip.Uri // the address of record (User)
	id      string  // aor as a string: the phone's identity
	domain  string  // aor's host: the registrar, and the domain of bare callee ids
	ws      *websocket.Conn
	parser  *sip.Parser
	via     string // transport of our Via: WS or WSS
	viaHost string // made-up .invalid host of Via (RFC 7118 §5)
	contact sip.Uri
	inst    string // +sip.instance

	msgs chan signaling.Message
	ctx  context.Context // cancelled when the connection ends
	stop context.CancelFunc
	wg   sync.WaitGroup // every goroutine but the reader
	wmu  sync.Mutex     // one writer at a time (gorilla's rule)
	byes sync.WaitGroup // BYEs in flight, which Close lets finish
	done chan struct{}  // closed once msgs is closed

	mu       sync.Mutex
	txs      map[string]chan *sip.Response
	dialogs  map[string]*dialog
	reg      *registration
	err      error
	closing  bool
	closeErr error
	once     sync.Once
	trace    bool // log every message (debug level)
}

var _ signaling.Conn = (*Conn)(nil)

// Dial opens the WebSocket and, with Register, registers User (answering
// the server's digest challenge). The error wraps signaling.ErrUnreachable
// when the server cannot be reached, signaling.ErrRegisterFailed (and
// signaling.ErrAuth) when the registration is refused.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
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
	dialer := websocket.Dialer{
		HandshakeTimeout: cfg.HandshakeTimeout,
		TLSClientConfig:  cfg.TLSConfig,
		Subprotocols:     []string{"sip"},
		Proxy:            nil,
	}
	ws, resp, err := dialer.DialContext(ctx, cfg.URL, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w: %s: HTTP %s (is it a SIP over WebSocket endpoint?)", signaling.ErrUnreachable, cfg.URL, resp.Status)
		}
		return nil, fmt.Errorf("%w: %s: %v", signaling.ErrUnreachable, cfg.URL, err)
	}
	if ws.Subprotocol() != "sip" {
		_ = ws.Close()
		return nil, fmt.Errorf("%w: %s did not accept the WebSocket subprotocol \"sip\" (RFC 7118)", signaling.ErrUnreachable, cfg.URL)
	}
	ws.SetReadLimit(maxFrameBytes)
	c := newConn(cfg, aor, ws, u.Scheme)
	c.log.Debug("SIP WebSocket connected", "url", cfg.URL)
	go c.run()
	if cfg.Register {
		if err := c.register(ctx); err != nil {
			c.abort()
			return nil, err
		}
	}
	return c, nil
}

func newConn(cfg Config, aor sip.Uri, ws *websocket.Conn, scheme string) *Conn {
	ctx, stop := context.WithCancel(context.Background())
	c := &Conn{
		cfg:     cfg,
		log:     cfg.Logger.With("sip", aor.String()),
		aor:     aor,
		id:      aor.String(),
		domain:  aor.Host,
		ws:      ws,
		parser:  sip.NewParser(),
		via:     strings.ToUpper(scheme),
		viaHost: randToken(12) + ".invalid",
		inst:    "<urn:uuid:" + uuid.NewString() + ">",
		msgs:    make(chan signaling.Message, inboxSize),
		ctx:     ctx,
		stop:    stop,
		done:    make(chan struct{}),
		txs:     map[string]chan *sip.Response{},
		dialogs: map[string]*dialog{},
		trace:   cfg.Trace,
	}
	// RFC 7118 §5: the client has no reachable address; the host is made
	// up and the server sends everything down this WebSocket. ";ob" asks
	// for that (RFC 5626), as JsSIP and SIP.js do.
	c.contact = sip.Uri{Scheme: "sip", User: randToken(8), Host: c.viaHost,
		UriParams: params("transport", strings.ToLower(c.via), "ob", "")}
	return c
}

// ID is this user agent's address of record, normalised: the identity a
// phone must use so that its incoming calls match.
func (c *Conn) ID() string { return c.id }

// Messages delivers what the SIP side brings, translated. It is closed
// when the WebSocket ends; Err then says why.
func (c *Conn) Messages() <-chan signaling.Message { return c.msgs }

// Err is why the connection ended (nil while it runs, and after Close).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close un-REGISTERs (when registered), ends the calls still in progress
// without telling anyone (the phone hangs them up first), closes the
// WebSocket and waits for every goroutine.
func (c *Conn) Close() error {
	c.once.Do(func() {
		// The phone hangs up before it closes: let those BYEs reach
		// the server before the socket goes.
		byes := make(chan struct{})
		go func() { c.byes.Wait(); close(byes) }()
		t := time.NewTimer(byeWait)
		select {
		case <-byes:
		case <-t.C:
		}
		t.Stop()
		c.mu.Lock()
		c.closing = true
		reg := c.reg
		c.mu.Unlock()
		if reg != nil {
			ctx, cancel := context.WithTimeout(c.ctx, unregisterTimeout)
			if err := c.unregister(ctx, reg); err != nil {
				c.log.Warn("un-REGISTER failed", "err", err)
			}
			cancel()
		}
		c.abort()
	})
	<-c.done
	return nil
}

// abort closes the socket and waits for the goroutines.
func (c *Conn) abort() {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.ws.Close()
	<-c.done
}

// run reads the WebSocket until it ends, then stops every goroutine and
// closes Messages.
func (c *Conn) run() {
	err := c.read()
	c.mu.Lock()
	if !c.closing {
		c.err = fmt.Errorf("%w: SIP WebSocket: %v", signaling.ErrClosed, err)
	}
	c.stop() // under mu: goOwned either sees it or has already counted
	c.mu.Unlock()
	c.wg.Wait()
	close(c.msgs)
	close(c.done)
}

func (c *Conn) read() error {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return err
		}
		if len(strings.Trim(string(data), "\r\n")) == 0 {
			continue // RFC 5626 keep-alive
		}
		if c.trace {
			c.log.Debug("SIP received", "message", string(data))
		}
		msg, err := c.parser.ParseSIP(data)
		if err != nil {
			c.log.Warn("ignoring a malformed SIP message", "err", err, "message", clip(string(data)))
			continue
		}
		switch m := msg.(type) {
		case *sip.Response:
			c.onResponse(m)
		case *sip.Request:
			c.onRequest(m)
		}
	}
}

// write sends one message in one text frame.
func (c *Conn) write(m sip.Message) error {
	data := m.String()
	if c.trace {
		c.log.Debug("SIP sent", "message", data)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(data)); err != nil {
		return fmt.Errorf("%w: writing to the SIP WebSocket: %v", signaling.ErrClosed, err)
	}
	return nil
}

// emit hands a message to the phone.
func (c *Conn) emit(m signaling.Message) {
	select {
	case c.msgs <- m:
	case <-c.ctx.Done():
	}
}

// emitFromReader hands a message to the phone from the reader, which must
// not wait for the phone for long: the channel has room for a burst, and
// a phone that stops reading altogether is the phone's bug, logged.
func (c *Conn) emitFromReader(m signaling.Message) {
	select {
	case c.msgs <- m:
	default:
		t := time.NewTimer(writeTimeout)
		defer t.Stop()
		select {
		case c.msgs <- m:
		case <-c.ctx.Done():
		case <-t.C:
			c.log.Error("phone is not reading SIP events; dropped one", "type", m.Type, "call", m.CallID)
		}
	}
}

// clip shortens a logged message.
func clip(s string) string {
	const limit = 300
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}

// randToken is a random lowercase alphanumeric string.
func randToken(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	id := strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", "")
	b := []byte(id[:n])
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// go starts a goroutine owned by the connection, unless it is ending.
func (c *Conn) goOwned(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

var errClosing = errors.New("sip: connection closing")
