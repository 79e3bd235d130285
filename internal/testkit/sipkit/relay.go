package sipkit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// WSRelay stands between SIP-over-WebSocket clients and a server, for the
// network between them (a NAT, a load balancer): a test can cut the
// clients' connections, hand them frames of its own, and see every
// message that went through.
type WSRelay struct {
	// URL is where clients connect (ws://127.0.0.1:PORT/).
	URL string

	srv      *httptest.Server
	upstream string
	wg       sync.WaitGroup

	mu     sync.Mutex
	conns  []*relayConn
	frames []Frame
}

// Frame is one message that went through the relay.
type Frame struct {
	// Conn numbers the client connection from 1, in the order they came.
	Conn int
	// Up is true from the client to the server.
	Up   bool
	Data string
}

type relayConn struct {
	n            int
	client, serv *websocket.Conn
	wmu          sync.Mutex // writes to the client: the pump and Inject
}

// StartWSRelay relays the clients that connect to it to upstream (a
// ws:// URL); the test stops it.
func StartWSRelay(t testing.TB, upstream string) *WSRelay {
	t.Helper()
	r := &WSRelay{upstream: upstream}
	up := websocket.Upgrader{Subprotocols: []string{"sip"}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		serv, resp, err := (&websocket.Dialer{Subprotocols: []string{"sip"}}).Dial(r.upstream, nil)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		client, err := up.Upgrade(w, req, nil)
		if err != nil {
			_ = serv.Close()
			return
		}
		r.mu.Lock()
		c := &relayConn{n: len(r.conns) + 1, client: client, serv: serv}
		r.conns = append(r.conns, c)
		r.wg.Add(2)
		r.mu.Unlock()
		go r.pump(c, true)
		go r.pump(c, false)
	}))
	r.URL = "ws" + strings.TrimPrefix(r.srv.URL, "http") + "/"
	t.Cleanup(r.close)
	return r
}

// pump copies one direction of a connection until either side closes,
// then closes both.
func (r *WSRelay) pump(c *relayConn, up bool) {
	defer r.wg.Done()
	from, to := c.serv, c.client
	if up {
		from, to = c.client, c.serv
	}
	defer func() {
		_ = c.client.Close()
		_ = c.serv.Close()
	}()
	for {
		typ, data, err := from.ReadMessage()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.frames = append(r.frames, Frame{Conn: c.n, Up: up, Data: string(data)})
		r.mu.Unlock()
		if !up {
			c.wmu.Lock()
		}
		err = to.WriteMessage(typ, data)
		if !up {
			c.wmu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// Cut drops every client connection at once (no close frame: as a
// network that fails), and the relay's connections to the server with
// them.
func (r *WSRelay) Cut() {
	r.mu.Lock()
	conns := r.conns
	r.mu.Unlock()
	for _, c := range conns {
		_ = c.client.NetConn().Close()
		_ = c.serv.Close()
	}
}

// Inject sends data to the clients as a frame of the server's.
func (r *WSRelay) Inject(data string) {
	r.mu.Lock()
	conns := r.conns
	r.mu.Unlock()
	for _, c := range conns {
		c.wmu.Lock()
		_ = c.client.WriteMessage(websocket.TextMessage, []byte(data))
		c.wmu.Unlock()
	}
}

// Frames is every message that went through so far.
func (r *WSRelay) Frames() []Frame {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Frame(nil), r.frames...)
}

// Conns is how many client connections came.
func (r *WSRelay) Conns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

func (r *WSRelay) close() {
	r.Cut()
	r.srv.Close()
	r.wg.Wait()
}
