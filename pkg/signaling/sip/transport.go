package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/emiago/sipgo/sip"
	"github.com/gobwas/ws"
)

// How callstat's user agent sits on sipgo's transport layer.
//
// sipgo's WS transport opens a connection when a request needs one, keyed
// in a pool by the remote address, and dials "ws://<ip:port>" (no path, no
// TLS host name). A phone needs exactly one WebSocket, to Config.URL, whose
// end it sees at once. So the agent gives sipgo's transport layer its own
// TransportWS (sipgo's code, with callstat's dialer):
//
//   - DialURI always answers Config.URL (path and host name kept: TLS
//     verification and Asterisk's /ws work), and NetDial dials the address
//     Dial resolved, which is also the pool key: every request is routed
//     there (outbound), and responses go back on the same socket.
//   - NetDial refuses unless Agent.Dial is connecting: sipgo never opens a
//     WebSocket behind the phone's back (after a drop, requests fail until
//     the phone reconnects).
//   - WrapConn watches the socket: its close ends the Conn.
//
// wss:// goes through the same TransportWS (gobwas/ws does the TLS): sipgo's
// TransportWSS dials on its own and has no such hooks. Requests are sent
// with transport "WS" internally; their Via still says WSS.

// internalTransport is the sipgo transport every message uses.
const internalTransport = "WS"

// errNotConnected is what sipgo's transport gets when it would open a
// connection that Agent.Dial did not ask for.
var errNotConnected = errors.New("sip: not connected to the server (the phone is reconnecting)")

// newTransport is the TransportWS that sipgo's transport layer runs for
// the agent.
func (a *Agent) newTransport() *sip.TransportWS {
	return &sip.TransportWS{
		WriteTimeout: writeTimeout,
		DialURI:      func(string) string { return a.cfg.URL },
		DialerCreate: func(net.Addr) ws.Dialer {
			a.mu.Lock()
			c := a.dialing
			a.mu.Unlock()
			return ws.Dialer{
				Timeout:   a.cfg.HandshakeTimeout,
				Protocols: []string{"sip"},
				TLSConfig: a.cfg.TLSConfig,
				NetDial: func(ctx context.Context, network, _ string) (net.Conn, error) {
					if c == nil || !c.claimDial() {
						return nil, errNotConnected
					}
					var d net.Dialer
					return d.DialContext(ctx, network, c.key)
				},
				OnStatusError: func(status int, reason []byte, _ io.Reader) {
					if c != nil {
						c.setHTTPStatus(strconv.Itoa(status) + " " + string(reason))
					}
				},
				WrapConn: func(conn net.Conn) net.Conn {
					if c == nil {
						return conn
					}
					return c.watch(conn)
				},
			}
		},
	}
}

// watchedConn is the Conn's WebSocket underneath sipgo: it remembers why
// reading stopped and ends the Conn when sipgo closes it (sipgo closes a
// connection whose reading stopped, after taking it out of its pool).
//
// It also keeps a server that speaks at once from losing its first
// messages. gobwas/ws reads the handshake's response through a
// bufio.Reader and returns what that buffered beyond it, which sipgo's
// transport drops: the handshake never reads past the response's blank
// line here. And sipgo starts reading before it puts the connection in
// its pool, so a request read that early finds no connection to answer
// on (sipgo would dial another): reading waits until Dial has the
// connection pooled (ready). Reads happen one at a time (the handshake,
// then sipgo's reader).
type watchedConn struct {
	net.Conn
	c     *Conn
	once  sync.Once
	ready chan struct{}

	handshook bool   // the response's blank line has been read
	tail      []byte // the last bytes of the response so far
	pending   []byte // bytes read past the response, served first

	mu      sync.Mutex
	readErr error
}

func (w *watchedConn) Read(b []byte) (int, error) {
	if w.handshook {
		<-w.ready
	}
	if len(w.pending) > 0 {
		n := copy(b, w.pending)
		w.pending = w.pending[n:]
		return n, nil
	}
	n, err := w.Conn.Read(b)
	if err != nil {
		w.mu.Lock()
		if w.readErr == nil {
			w.readErr = err
		}
		w.mu.Unlock()
	}
	if w.handshook || n == 0 {
		return n, err
	}
	// Find the blank line that ends the response, across reads.
	seen := make([]byte, 0, len(w.tail)+n)
	seen = append(seen, w.tail...)
	seen = append(seen, b[:n]...)
	i := bytes.Index(seen, []byte("\r\n\r\n"))
	if i < 0 {
		w.tail = append([]byte(nil), seen[max(0, len(seen)-3):]...)
		return n, err
	}
	w.handshook, w.tail = true, nil
	end := i + 4 - (len(seen) - n) // in b
	w.pending = append([]byte(nil), b[end:n]...)
	return end, err
}

func (w *watchedConn) Close() error {
	err := w.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil // shut down already (shutdown)
	}
	w.once.Do(func() {
		w.mu.Lock()
		cause := w.readErr
		w.mu.Unlock()
		w.c.ended(cause)
	})
	return err
}

// shutdown closes the socket itself: sipgo's reader stops, sipgo cleans up
// and closes the watchedConn, which ends the Conn.
func (w *watchedConn) shutdown() { _ = w.Conn.Close() }

// readFilter sees every message before sipgo's parser. sipgo's WS
// transport closes the connection when a message does not parse; a phone
// would lose its registration and calls in progress their signaling to a
// single bad frame. So each message is parsed here first, with sipgo's own
// parser, and one that does not parse is logged and dropped: the
// connection stays. It also traces what arrives (Config.Trace).
func (a *Agent) readFilter(_ sip.TransportReadProps, data []byte) ([]byte, error) {
	if len(bytes.Trim(data, "\r\n")) == 0 {
		return data, nil // RFC 5626 keep-alive: sipgo answers it
	}
	if a.cfg.Trace {
		a.log.Debug("SIP received", "message", string(data))
	}
	msg, err := a.parser.ParseSIP(data)
	if err != nil {
		a.log.Warn("ignoring a malformed SIP message", "err", err, "message", clip(string(data)))
		return nil, nil
	}
	if res, ok := msg.(*sip.Response); ok {
		a.noteRinging(res)
	}
	return data, nil
}

// noteRinging remembers, in the order messages arrive, that an INVITE of
// ours was rung (180, 183). sipgo's transaction layer handles each
// message in a goroutine of its own: a 180 and a 200 that arrive together
// may reach the INVITE's transaction in either order, and a 180 after the
// 200 is dropped there. The answer then reports the ringing first.
func (a *Agent) noteRinging(res *sip.Response) {
	cseq, id := res.CSeq(), res.CallID()
	if cseq == nil || id == nil || cseq.MethodName != sip.INVITE || res.StatusCode <= 100 || res.StatusCode >= 200 {
		return
	}
	a.mu.Lock()
	if d := a.dialogs[id.Value()]; d != nil && d.outgoing {
		d.rungOnWire = true
	}
	a.mu.Unlock()
}

// outbound is the client's transaction requester: every request of the
// agent goes down its one WebSocket, whatever its Request-URI or Route
// header names (RFC 7118 §5: the server is the outbound proxy). sipgo's
// dialogs set the destination from the Route header, which a server may
// fill with an address the phone cannot dial.
type outbound struct{ a *Agent }

func (o outbound) Request(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error) {
	a := o.a
	a.mu.Lock()
	key := a.key
	a.mu.Unlock()
	req.SetTransport(internalTransport)
	req.SetDestination(key)
	a.trace(req)
	if req.IsAck() {
		// An ACK to a 2xx is no transaction (RFC 3261 §13.2.2.4).
		return nil, a.ua.TransportLayer().WriteMsg(req)
	}
	return a.ua.TransactionLayer().Request(ctx, req)
}

// trace logs a message the agent sends (Config.Trace).
func (a *Agent) trace(m sip.Message) {
	if a.cfg.Trace {
		a.log.Debug("SIP sent", "message", m.String())
	}
}

// respond sends a response on its server transaction.
func (a *Agent) respond(tx sip.ServerTransaction, res *sip.Response) error {
	a.trace(res)
	if err := tx.Respond(res); err != nil {
		return fmt.Errorf("sip: responding %d: %w", res.StatusCode, err)
	}
	return nil
}

// Levels sipgo's own lines land at: its info chatter shows with debug
// logging, its errors as warnings (callstat reports what matters itself),
// as pion's logs are bridged in package call.
const (
	levelSipgoDebug = slog.LevelDebug - 4
	levelSipgoInfo  = slog.LevelDebug - 2
	levelSipgoWarn  = slog.LevelDebug
	levelSipgoError = slog.LevelWarn
)

// RouteSipgoLogs sends what sipgo logs through its process-wide default
// logger to l, at callstat's levels. Each Agent hands its own logger to
// sipgo's transport layer, transaction layer, client and server; a few
// lines have no such option (those of the WebSocket transport itself, and
// of its connections' reference counting) and go to sip.DefaultLogger,
// slog.Default unless set. Call it once, from main, before any Agent.
func RouteSipgoLogs(l *slog.Logger) { sip.SetDefaultLogger(sipgoLogger(l)) }

// sipgoLogger is the logger handed to sipgo's layers.
func sipgoLogger(l *slog.Logger) *slog.Logger {
	return slog.New(sipgoHandler{h: l.Handler()}).With("sipgo", true)
}

// sipgoHandler moves sipgo's log levels to callstat's.
type sipgoHandler struct{ h slog.Handler }

func sipgoLevel(l slog.Level) slog.Level {
	switch {
	case l >= slog.LevelError:
		return levelSipgoError
	case l >= slog.LevelWarn:
		return levelSipgoWarn
	case l >= slog.LevelInfo:
		return levelSipgoInfo
	default:
		return levelSipgoDebug
	}
}

func (s sipgoHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.h.Enabled(ctx, sipgoLevel(l))
}

func (s sipgoHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = sipgoLevel(r.Level)
	return s.h.Handle(ctx, r)
}

func (s sipgoHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return sipgoHandler{h: s.h.WithAttrs(attrs)}
}

func (s sipgoHandler) WithGroup(name string) slog.Handler {
	return sipgoHandler{h: s.h.WithGroup(name)}
}
