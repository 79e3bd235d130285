package signaling

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Client errors.
var (
	// ErrUnreachable means the server could not be reached or did not
	// speak this protocol.
	ErrUnreachable = errors.New("signaling server unreachable")
	// ErrClosed means the connection has ended.
	ErrClosed = errors.New("signaling connection closed")
)

// ServerError is an "error" message the server sent in answer to a request.
type ServerError struct {
	Code    string
	Message string
}

func (e *ServerError) Error() string {
	return "signaling server refused: " + e.Message + " (" + e.Code + ")"
}

// ClientConfig configures Dial.
type ClientConfig struct {
	URL              string
	Logger           *slog.Logger
	Header           http.Header
	TLSConfig        *tls.Config
	HandshakeTimeout time.Duration
	PingInterval     time.Duration
	PongWait         time.Duration
}

// Client is one connection to a signaling server. Messages the server sends
// arrive on Messages, except answers to Request, which go to their caller.
type Client struct {
	conn    *wsConn
	welcome Message
	inbox   chan Message

	mu      sync.Mutex
	waiters map[string]chan Message
	nextRID atomic.Uint64

	readerDone chan struct{}
	readErr    error
}

// Dial connects, waits for the server's welcome and starts the connection's
// reader and writer. Close releases them.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 5 * time.Second
	}
	dialer := websocket.Dialer{
		HandshakeTimeout: cfg.HandshakeTimeout,
		TLSClientConfig:  cfg.TLSConfig,
		Proxy:            nil, // signaling is local or explicit; never through an environment proxy
	}
	ws, resp, err := dialer.DialContext(ctx, cfg.URL, cfg.Header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connecting to %s: %w", cfg.URL, ctx.Err())
		}
		if resp != nil {
			return nil, fmt.Errorf("%w: %s answered HTTP %s", ErrUnreachable, cfg.URL, resp.Status)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, cfg.URL, err)
	}
	c := &Client{
		conn:       newWSConn(ws, cfg.Logger, connTiming{PingInterval: cfg.PingInterval, PongWait: cfg.PongWait}),
		inbox:      make(chan Message, 64),
		waiters:    map[string]chan Message{},
		readerDone: make(chan struct{}),
	}
	c.conn.start()

	// The first frame must be the welcome, within the handshake timeout.
	// Cancelling ctx cuts the wait short by moving the read deadline to now.
	_ = ws.SetReadDeadline(time.Now().Add(cfg.HandshakeTimeout))
	stop := context.AfterFunc(ctx, func() { _ = ws.SetReadDeadline(time.Now()) })
	first, err := c.readOne()
	if !stop() { // ctx is done and the deadline may have moved: no use going on
		c.conn.close(ctx.Err())
		return nil, fmt.Errorf("waiting for the welcome from %s: %w", cfg.URL, ctx.Err())
	}
	if err == nil && first.Type != TypeWelcome {
		err = fmt.Errorf("first message was %q, not %q", first.Type, TypeWelcome)
	}
	if err != nil {
		c.conn.close(err)
		return nil, fmt.Errorf("%w: %s does not speak callstat signaling v%d: %v", ErrUnreachable, cfg.URL, ProtocolVersion, err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(c.conn.pongWait))
	c.welcome = first
	go c.readLoop()
	return c, nil
}

func (c *Client) readOne() (Message, error) {
	kind, data, err := c.conn.ws.ReadMessage()
	if err != nil {
		return Message{}, err
	}
	if kind != websocket.TextMessage {
		return Message{}, errors.New("binary frame")
	}
	return Decode(data)
}

func (c *Client) readLoop() {
	defer close(c.readerDone)
	defer close(c.inbox)
	err := c.conn.readLoop(func(kind int, data []byte) bool {
		if kind != websocket.TextMessage {
			return true
		}
		m, err := Decode(data)
		if err != nil {
			c.conn.log.Warn("ignoring malformed message from server", "err", err)
			return true
		}
		if m.RID != "" {
			c.mu.Lock()
			w, ok := c.waiters[m.RID]
			delete(c.waiters, m.RID)
			c.mu.Unlock()
			if ok {
				w <- m // buffered, one answer per request
				return true
			}
		}
		select {
		case c.inbox <- m:
			return true
		case <-c.conn.ctx.Done():
			return false
		}
	})
	c.readErr = err
	c.conn.cancel(err)
}

// Welcome is the server's first message (software name, session id).
func (c *Client) Welcome() Message { return c.welcome }

// Messages delivers what the server sends. It is closed when the
// connection ends; Err then says why.
func (c *Client) Messages() <-chan Message { return c.inbox }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.readerDone }

// Err is why the connection ended; valid after Done.
func (c *Client) Err() error {
	select {
	case <-c.readerDone:
		if c.readErr == nil {
			return ErrClosed
		}
		return fmt.Errorf("%w: %v", ErrClosed, c.readErr)
	default:
		return nil
	}
}

// Send queues a message for the server. A message too large for one frame
// is refused with an error matching ErrBadMessage and the connection stays
// up; any other error matches ErrClosed.
func (c *Client) Send(m Message) error {
	if err := c.conn.send(m); err != nil {
		if errors.Is(err, ErrBadMessage) {
			return fmt.Errorf("signaling: not sent: %w", err)
		}
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	return nil
}

// Request sends m with a fresh request id and waits for the server's answer:
// the answer, or a *ServerError if the server sent "error".
func (c *Client) Request(ctx context.Context, m Message) (Message, error) {
	m.RID = strconv.FormatUint(c.nextRID.Add(1), 10)
	w := make(chan Message, 1)
	c.mu.Lock()
	c.waiters[m.RID] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, m.RID)
		c.mu.Unlock()
	}()
	if err := c.Send(m); err != nil {
		return Message{}, err
	}
	select {
	case reply := <-w:
		if reply.Type == TypeError {
			return reply, &ServerError{Code: reply.Code, Message: reply.Message}
		}
		return reply, nil
	case <-c.readerDone:
		return Message{}, c.Err()
	case <-ctx.Done():
		return Message{}, fmt.Errorf("waiting for %q reply: %w", m.Type, ctx.Err())
	}
}

// Close flushes queued messages, closes the connection and waits for its
// goroutines.
func (c *Client) Close() error {
	c.conn.close(ErrClosed)
	<-c.readerDone
	return nil
}
