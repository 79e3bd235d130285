package signaling

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Keepalive and write timing shared by the server and the client.
const (
	defaultWriteWait    = 5 * time.Second
	defaultPingInterval = 10 * time.Second
	defaultPongWait     = 25 * time.Second
	defaultSendQueue    = 256
)

var errSendQueueFull = errors.New("signaling: send queue full; peer is not reading")

// closeError is a cause that closes the connection with a WebSocket close
// code other than normal closure, e.g. 1008 for a policy violation.
type closeError struct {
	code int
	text string
}

func (e *closeError) Error() string { return e.text }

// wsConn is one WebSocket connection with gorilla's rule enforced: the
// goroutine that calls readLoop is the only reader, writeLoop the only writer.
// Everybody else hands frames to send, which never blocks.
type wsConn struct {
	ws     *websocket.Conn
	log    *slog.Logger
	out    chan []byte
	ctx    context.Context
	cancel context.CancelCauseFunc

	pingInterval time.Duration
	pongWait     time.Duration
	writeWait    time.Duration

	writerDone chan struct{}
	closeOnce  sync.Once
	// linger, when set (the server), makes close half-close the connection
	// and read what the peer still sends, for at most this long, before
	// closing it.
	linger time.Duration
}

type connTiming struct {
	PingInterval time.Duration
	PongWait     time.Duration
	WriteWait    time.Duration
	SendQueue    int
}

func (t connTiming) withDefaults() connTiming {
	if t.PingInterval <= 0 {
		t.PingInterval = defaultPingInterval
	}
	if t.PongWait <= 0 {
		t.PongWait = defaultPongWait
	}
	if t.PongWait <= t.PingInterval {
		t.PongWait = 2*t.PingInterval + time.Second
	}
	if t.WriteWait <= 0 {
		t.WriteWait = defaultWriteWait
	}
	if t.SendQueue <= 0 {
		t.SendQueue = defaultSendQueue
	}
	return t
}

func newWSConn(ws *websocket.Conn, log *slog.Logger, t connTiming) *wsConn {
	t = t.withDefaults()
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &wsConn{
		ws:           ws,
		log:          log,
		out:          make(chan []byte, t.SendQueue),
		ctx:          ctx,
		cancel:       cancel,
		pingInterval: t.PingInterval,
		pongWait:     t.PongWait,
		writeWait:    t.WriteWait,
		writerDone:   make(chan struct{}),
	}
	ws.SetReadLimit(MaxMessageBytes)
	_ = ws.SetReadDeadline(time.Now().Add(c.pongWait))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(c.pongWait))
	})
	return c
}

// start runs the writer. The caller owns it through close, which waits.
func (c *wsConn) start() {
	go c.writeLoop()
}

// send queues a message. A full queue means the peer stopped reading; the
// connection is closed rather than let one slow peer hold memory or block
// the sender.
func (c *wsConn) send(m Message) error {
	data, err := Encode(m)
	if err != nil {
		return err
	}
	select {
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	default:
	}
	select {
	case c.out <- data:
		return nil
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	default:
		c.cancel(errSendQueueFull)
		return errSendQueueFull
	}
}

func (c *wsConn) writeLoop() {
	defer close(c.writerDone)
	ping := time.NewTicker(c.pingInterval)
	defer ping.Stop()
	for {
		select {
		case data := <-c.out:
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeWait))
			if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
				c.cancel(err)
				_ = c.ws.Close() // unblock the reader
				return
			}
		case <-ping.C:
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeWait))
			if err := c.ws.WriteMessage(websocket.PingMessage, nil); err != nil {
				c.cancel(err)
				_ = c.ws.Close()
				return
			}
		case <-c.ctx.Done():
			// Flush what is queued (an "end" sent just before closing must
			// arrive), then say goodbye.
			for {
				select {
				case data := <-c.out:
					_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeWait))
					if c.ws.WriteMessage(websocket.TextMessage, data) != nil {
						_ = c.ws.Close()
						return
					}
					continue
				default:
				}
				break
			}
			code, text := websocket.CloseNormalClosure, ""
			if ce := (*closeError)(nil); errors.As(context.Cause(c.ctx), &ce) {
				code, text = ce.code, ce.text
			}
			_ = c.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(code, text), time.Now().Add(c.writeWait))
			if c.linger > 0 {
				// Half-close and let close drain the input: closing a
				// socket with unread input resets the connection, and the
				// peer could lose the error and the close frame just sent
				// (a flooder always has unread input). The reader, if
				// still reading, gets the peer's close frame or gives up
				// at the deadline.
				if hc, ok := c.ws.NetConn().(interface{ CloseWrite() error }); ok {
					_ = hc.CloseWrite()
				}
				_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(c.linger))
				return
			}
			_ = c.ws.Close()
			return
		}
	}
}

// readLoop delivers each data frame (text or binary) to handle until the
// connection fails or handle returns false. It is the connection's only
// reader.
func (c *wsConn) readLoop(handle func(kind int, data []byte) bool) error {
	for {
		kind, data, err := c.ws.ReadMessage()
		if err != nil {
			c.cancel(err)
			return err
		}
		if !handle(kind, data) {
			return nil
		}
	}
}

// close stops the writer (after it flushes) and waits for it. The reader
// returns once the socket is closed.
func (c *wsConn) close(cause error) {
	c.closeOnce.Do(func() {
		c.cancel(cause)
	})
	<-c.writerDone
	if c.linger > 0 {
		nc := c.ws.NetConn()
		_ = nc.SetReadDeadline(time.Now().Add(c.linger))
		_, _ = io.Copy(io.Discard, nc) // until the peer closes, or the deadline
	}
	_ = c.ws.Close()
}
