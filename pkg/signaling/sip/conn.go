package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/callstat/callstat/pkg/signaling"
)

// Defaults.
const (
	// DefaultExpires is the registration lifetime asked for, as JsSIP and
	// SIP.js ask.
	DefaultExpires = 600 * time.Second
	// writeTimeout bounds one frame's write.
	writeTimeout = 10 * time.Second
	// unregisterTimeout bounds the un-REGISTER on Close.
	unregisterTimeout = 2 * time.Second
	// hangupWait bounds how long closing the connection waits for BYEs and
	// CANCELs in flight.
	hangupWait = 2 * time.Second
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
	// Trace logs the SIP messages received and those the user agent sends,
	// at debug level (credentials are hashed in digest headers; SDP is
	// logged whole). Responses that sipgo's transaction layer sends on its
	// own (487 after a CANCEL, the 200 to a CANCEL, 400 to a request
	// without Via or CSeq) and the ACKs and 2xx it sends again are not
	// traced.
	Trace bool
}

// Conn is one signaling session of an Agent: one WebSocket, and the
// registration on it. It is a signaling.Conn that a call.Phone drives;
// the package documentation has the mapping.
type Conn struct {
	a     *Agent
	key   string // ip:port of the server
	owned bool   // Close closes the agent too (Dial)

	msgs chan signaling.Message
	stop chan struct{} // closed when the connection ends: emitters give up
	done chan struct{} // closed once msgs is closed
	ctx  context.Context
	quit context.CancelFunc
	wg   sync.WaitGroup // the registration's refresh

	emitMu    sync.RWMutex // emitters hold it shared while they send on msgs
	once      sync.Once
	ready     chan struct{} // closed once sipgo has pooled the WebSocket
	readyOnce sync.Once

	mu       sync.Mutex
	ws       *watchedConn
	dialed   bool
	status   string // HTTP status of a refused WebSocket handshake
	reg      *registration
	err      error
	closing  bool
	finished bool
}

var _ signaling.Conn = (*Conn)(nil)

// Dial opens a connection of a new Agent, which the Conn owns: closing
// the Conn closes the Agent. A phone that should reconnect dials through
// an Agent of its own instead (Agent.Dial), so that its calls outlive a
// dropped WebSocket.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	a, err := NewAgent(cfg)
	if err != nil {
		return nil, err
	}
	c, err := a.Dial(ctx)
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	c.owned = true
	return c, nil
}

func newConn(a *Agent, key string) *Conn {
	ctx, quit := context.WithCancel(a.ctx)
	return &Conn{
		a:     a,
		key:   key,
		msgs:  make(chan signaling.Message, inboxSize),
		ready: make(chan struct{}),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		ctx:   ctx,
		quit:  quit,
	}
}

// ID is this user agent's address of record, normalised: the identity a
// phone must use so that its incoming calls match.
func (c *Conn) ID() string { return c.a.id }

// Messages delivers what the SIP side brings, translated. It is closed
// when the WebSocket ends; Err then says why.
func (c *Conn) Messages() <-chan signaling.Message { return c.msgs }

// Err is why the connection ended (nil while it runs, and after Close).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Send translates a message of the phone into SIP.
func (c *Conn) Send(m signaling.Message) error { return c.a.send(m) }

// Close un-REGISTERs (when registered), lets the hang-ups in flight reach
// the server, closes the WebSocket and waits for the connection's
// goroutines. The Agent's calls stay (a phone that reconnects carries on
// with them); a Conn from Dial closes its Agent too.
func (c *Conn) Close() error {
	c.once.Do(func() {
		if !c.isEnded() {
			// The phone hangs up before it closes: let those BYEs and
			// CANCELs reach the server before the socket goes.
			waitTimeout(&c.a.hangups, hangupWait)
		}
		c.mu.Lock()
		c.closing = true
		reg := c.reg
		c.mu.Unlock()
		if reg != nil && !c.isEnded() {
			ctx, cancel := context.WithTimeout(c.ctx, unregisterTimeout)
			if err := c.unregister(ctx, reg); err != nil {
				c.a.log.Warn("un-REGISTER failed", "err", err)
			}
			cancel()
		}
		c.abort()
		if c.owned {
			_ = c.a.Close()
		}
	})
	<-c.done
	return nil
}

// abort closes the socket and waits for the connection's goroutines.
func (c *Conn) abort() {
	c.mu.Lock()
	c.closing = true
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		ws.shutdown()
	} else {
		c.ended(nil)
	}
	<-c.done
	c.wg.Wait()
}

// claimDial lets sipgo's transport open this Conn's WebSocket once.
func (c *Conn) claimDial() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dialed {
		return false
	}
	c.dialed = true
	return true
}

// watch wraps the WebSocket that sipgo's transport opens for this Conn.
func (c *Conn) watch(conn net.Conn) net.Conn {
	w := &watchedConn{Conn: conn, c: c, ready: c.ready}
	c.mu.Lock()
	c.ws = w
	c.mu.Unlock()
	return w
}

// pooled lets the WebSocket be read: sipgo has put it in its pool.
func (c *Conn) pooled() {
	c.readyOnce.Do(func() { close(c.ready) })
}

// socket is the watched WebSocket (nil before it is open).
func (c *Conn) socket() *watchedConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws
}

func (c *Conn) setHTTPStatus(s string) {
	c.mu.Lock()
	c.status = s
	c.mu.Unlock()
}

func (c *Conn) httpStatus() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func (c *Conn) isEnded() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// ended is called once the WebSocket is closed, whoever closed it: it
// records why, stops the emitters and closes Messages.
func (c *Conn) ended(cause error) {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	c.finished = true
	if !c.closing && c.err == nil {
		why := "the server closed it"
		if cause != nil && !errors.Is(cause, io.EOF) {
			why = cause.Error()
		}
		c.err = fmt.Errorf("%w: SIP WebSocket %s: %s", signaling.ErrClosed, c.a.cfg.URL, why)
	}
	err := c.err
	c.mu.Unlock()
	c.a.mu.Lock()
	if c.a.cur == c {
		c.a.cur = nil
	}
	c.a.mu.Unlock()
	if err != nil {
		c.a.log.Warn("SIP WebSocket lost", "err", err)
	}
	close(c.stop)
	c.quit()
	c.emitMu.Lock()
	close(c.msgs)
	c.emitMu.Unlock()
	close(c.done)
}

// emit hands a message to the phone, unless the connection has ended.
func (c *Conn) emit(m signaling.Message) {
	c.emitMu.RLock()
	defer c.emitMu.RUnlock()
	select {
	case <-c.stop:
		return
	default:
	}
	select {
	case c.msgs <- m:
	case <-c.stop:
	}
}

// fail ends the connection with err as its Err.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.closing = true // keep err
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		ws.shutdown()
	}
}

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
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
