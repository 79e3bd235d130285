package signaling

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// waitTimeout bounds every wait for something the test expects to happen;
// reaching it fails the test instead of hanging it.
const waitTimeout = 5 * time.Second

const (
	offerSDP  = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
	answerSDP = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
)

type testServer struct {
	srv *Server
	hs  *httptest.Server
	url string // ws://127.0.0.1:port/ws
}

// startServer serves a Server on 127.0.0.1:0. Cleanup shuts it down, which
// waits for every connection handler.
func startServer(t *testing.T, cfg ServerConfig) *testServer {
	t.Helper()
	srv := NewServer(cfg)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	return &testServer{srv: srv, hs: hs, url: wsURL(hs.URL) + "/ws"}
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }

// dial connects a Client that cleanup closes.
func dial(t *testing.T, url string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := Dial(ctx, ClientConfig{URL: url})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func register(t *testing.T, c *Client, user string) {
	t.Helper()
	reply, err := request(c, Message{Type: TypeRegister, User: user})
	if err != nil {
		t.Fatalf("registering %s: %v", user, err)
	}
	if reply.Type != TypeRegistered || reply.User != user {
		t.Fatalf("register %s answered with %+v", user, reply)
	}
}

func request(c *Client, m Message) (Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return c.Request(ctx, m)
}

// requestRefused sends m as a request and asserts the server refuses it
// with code.
func requestRefused(t *testing.T, c *Client, m Message, code string) *ServerError {
	t.Helper()
	reply, err := request(c, m)
	var se *ServerError
	if !errors.As(err, &se) {
		t.Fatalf("%q: got %+v, %v; want a *ServerError %s", m.Type, reply, err, code)
	}
	if se.Code != code {
		t.Fatalf("%q: refused with %s (%s), want %s", m.Type, se.Code, se.Message, code)
	}
	if reply.CallID != m.CallID {
		t.Fatalf("%q: error echoes callId %q, want %q", m.Type, reply.CallID, m.CallID)
	}
	return se
}

func send(t *testing.T, c *Client, m Message) {
	t.Helper()
	if err := c.Send(m); err != nil {
		t.Fatalf("Send %q: %v", m.Type, err)
	}
}

// expect returns c's next message, which must be of type want.
func expect(t *testing.T, c *Client, want Type) Message {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			t.Fatalf("connection closed while waiting for %q: %v", want, c.Err())
		}
		if m.Type != want {
			t.Fatalf("got %+v, want a %q message", m, want)
		}
		return m
	case <-timer.C:
		t.Fatalf("no %q message within %s", want, waitTimeout)
	}
	return Message{}
}

func expectEnd(t *testing.T, c *Client, callID string, status int, reason string) {
	t.Helper()
	m := expect(t, c, TypeEnd)
	if m.CallID != callID || m.Status != status || (reason != "" && m.Reason != reason) {
		t.Fatalf("got end %+v, want callId %s status %d reason %q", m, callID, status, reason)
	}
}

// expectNothingQueued asserts c has no undelivered message. Callers first
// complete a request on the same connection: the server answers in order
// and the client's reader delivers in order, so anything the server sent
// before that answer is queued by then.
func expectNothingQueued(t *testing.T, c *Client) {
	t.Helper()
	select {
	case m, ok := <-c.Messages():
		if ok {
			t.Fatalf("unexpected message %+v", m)
		}
		t.Fatalf("connection closed: %v", c.Err())
	default:
	}
}

// syncWith round-trips a request that changes nothing on the server, so
// that expectNothingQueued can follow.
func syncWith(t *testing.T, c *Client) {
	t.Helper()
	requestRefused(t, c, Message{Type: TypeRinging, CallID: "sync"}, ErrCodeUnknownCall)
}

func expectClosed(t *testing.T, c *Client) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.Messages():
			if ok {
				t.Fatalf("got %+v, want the connection to close", m)
			}
			if err := c.Err(); !errors.Is(err, ErrClosed) {
				t.Fatalf("Err() = %v, want ErrClosed", err)
			}
			return
		case <-timer.C:
			t.Fatalf("connection still open after %s", waitTimeout)
		}
	}
}

// waitFor polls cond, for state that has no event to wait on (the server's
// counters).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// rawConn is a bare WebSocket to the server, for frames Client would never
// send. The test goroutine is its only reader and writer.
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, url string) *rawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	rc := &rawConn{t: t, ws: ws}
	if m := rc.read(); m.Type != TypeWelcome {
		t.Fatalf("first message %+v, want welcome", m)
	}
	return rc
}

func (rc *rawConn) write(kind int, data string) {
	rc.t.Helper()
	_ = rc.ws.SetWriteDeadline(time.Now().Add(waitTimeout))
	if err := rc.ws.WriteMessage(kind, []byte(data)); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *rawConn) writeMsg(m Message) {
	rc.t.Helper()
	data, err := Encode(m)
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.write(websocket.TextMessage, string(data))
}

func (rc *rawConn) readFrame() ([]byte, error) {
	_ = rc.ws.SetReadDeadline(time.Now().Add(waitTimeout))
	_, data, err := rc.ws.ReadMessage()
	return data, err
}

func (rc *rawConn) read() Message {
	rc.t.Helper()
	data, err := rc.readFrame()
	if err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	m, err := Decode(data)
	if err != nil {
		rc.t.Fatalf("server sent %.200s: %v", data, err)
	}
	return m
}

// expectClosed reads until the server ends the connection and fails if
// that takes longer than waitTimeout or a message arrives first.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	data, err := rc.readFrame()
	if err == nil {
		rc.t.Fatalf("got %s, want the connection closed", data)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		rc.t.Fatalf("connection still open after %s", waitTimeout)
	}
}

// fakeServer is a WebSocket server that runs script on each connection, for
// client tests that need a server misbehaving. Cleanup waits for scripts.
func fakeServer(t *testing.T, script func(ws *websocket.Conn)) string {
	t.Helper()
	var wg sync.WaitGroup
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Added before the upgrade hijacks the connection, while hs.Close
		// still waits for this request, so never after wg.Wait began.
		wg.Add(1)
		defer wg.Done()
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		script(ws)
	}))
	t.Cleanup(func() {
		hs.Close()
		wg.Wait()
	})
	return wsURL(hs.URL) + "/ws"
}

// drain reads until the peer goes away: the end of a fake server's script.
func drain(ws *websocket.Conn) {
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
	}
}

func writeJSON(ws *websocket.Conn, m Message) {
	data, _ := Encode(m)
	_ = ws.WriteMessage(websocket.TextMessage, data)
}
