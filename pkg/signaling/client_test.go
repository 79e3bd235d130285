package signaling

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/transport/v5/test"
)

func TestDialErrors(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))

	// A port that was just free: nothing listens on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	_ = ln.Close()

	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("hello, I am a web page"))
	}))
	t.Cleanup(plain.Close)
	real := startServer(t, ServerConfig{})

	tests := []struct {
		name      string
		url       func(t *testing.T) string
		handshake time.Duration
		ctx       func() (context.Context, context.CancelFunc)
		wantErr   error
	}{
		{name: "nothing listening", url: func(*testing.T) string { return "ws://" + closedAddr + "/ws" }, wantErr: ErrUnreachable},
		{name: "plain HTTP server", url: func(*testing.T) string { return wsURL(plain.URL) + "/ws" }, wantErr: ErrUnreachable},
		{name: "wrong path on a signaling server", url: func(*testing.T) string { return strings.TrimSuffix(real.url, "/ws") + "/nope" }, wantErr: ErrUnreachable},
		{name: "websocket that speaks something else", url: func(t *testing.T) string {
			return fakeServer(t, func(ws *websocket.Conn) {
				_ = ws.WriteMessage(websocket.TextMessage, []byte("HELLO 1.0"))
				drain(ws)
			})
		}, wantErr: ErrUnreachable},
		{name: "first message is not the welcome", url: func(t *testing.T) string {
			return fakeServer(t, func(ws *websocket.Conn) {
				writeJSON(ws, Message{Type: TypeRegistered, User: "x"})
				drain(ws)
			})
		}, wantErr: ErrUnreachable},
		{name: "first frame is binary", url: func(t *testing.T) string {
			return fakeServer(t, func(ws *websocket.Conn) {
				_ = ws.WriteMessage(websocket.BinaryMessage, []byte(`{"v":1,"type":"welcome"}`))
				drain(ws)
			})
		}, wantErr: ErrUnreachable},
		{name: "welcome in another version", url: func(t *testing.T) string {
			return fakeServer(t, func(ws *websocket.Conn) {
				_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"v":2,"type":"welcome"}`))
				drain(ws)
			})
		}, wantErr: ErrUnreachable},
		{name: "no welcome within the handshake timeout", handshake: 100 * time.Millisecond, url: func(t *testing.T) string {
			return fakeServer(t, drain)
		}, wantErr: ErrUnreachable},
		{name: "ctx ends while waiting for the welcome", url: func(t *testing.T) string {
			return fakeServer(t, drain)
		}, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, wantErr: context.DeadlineExceeded},
		{name: "ctx already cancelled", url: func(*testing.T) string { return real.url }, ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			start := time.Now()
			// A handshake timeout longer than the test's wait shows that
			// ctx, not the timeout, ended the wait.
			handshake := tt.handshake
			if handshake == 0 {
				handshake = 2 * waitTimeout
			}
			c, err := Dial(ctx, ClientConfig{URL: tt.url(t), HandshakeTimeout: handshake})
			if err == nil {
				_ = c.Close()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Dial: %v, want an error matching %v", err, tt.wantErr)
			}
			if !errors.Is(tt.wantErr, ErrUnreachable) && errors.Is(err, ErrUnreachable) {
				t.Fatalf("Dial: %v also claims the server is unreachable", err)
			}
			if d := time.Since(start); d > waitTimeout {
				t.Fatalf("Dial took %s to fail", d)
			}
		})
	}
}

// Replies reach the Request that is waiting for their rid, whatever order
// they come in; messages without a known rid go to Messages.
func TestClientRequestCorrelation(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	url := fakeServer(t, func(ws *websocket.Conn) {
		writeJSON(ws, Message{Type: TypeWelcome, Server: "fake"})
		var reqs []Message
		for len(reqs) < 2 {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			m, err := Decode(data)
			if err != nil || m.RID == "" {
				return
			}
			reqs = append(reqs, m)
		}
		// Answer in reverse order, with unrelated traffic between.
		writeJSON(ws, Message{Type: TypeRinging, CallID: "unsolicited"})
		for i := len(reqs) - 1; i >= 0; i-- {
			r := reqs[i]
			if r.User == "taken" {
				writeJSON(ws, Message{Type: TypeError, RID: r.RID, Code: ErrCodeAlreadyRegistered, Message: "taken is already registered"})
			} else {
				writeJSON(ws, Message{Type: TypeRegistered, RID: r.RID, User: r.User})
			}
			writeJSON(ws, Message{Type: TypeError, RID: "no-such-request", Code: ErrCodeUnknownCall})
		}
		drain(ws)
	})
	c := dial(t, url)
	if c.Welcome().Server != "fake" {
		t.Fatalf("Welcome() = %+v", c.Welcome())
	}

	type result struct {
		reply Message
		err   error
	}
	users := []string{"alice", "taken"}
	results := make([]result, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply, err := request(c, Message{Type: TypeRegister, User: u})
			results[i] = result{reply, err}
		}()
	}
	wg.Wait()

	if r := results[0]; r.err != nil || r.reply.Type != TypeRegistered || r.reply.User != "alice" {
		t.Errorf("request for alice got %+v, %v", r.reply, r.err)
	}
	var se *ServerError
	if r := results[1]; !errors.As(r.err, &se) || se.Code != ErrCodeAlreadyRegistered || r.reply.Type != TypeError {
		t.Errorf("request for taken got %+v, %v; want a *ServerError already_registered", r.reply, r.err)
	}
	if m := expect(t, c, TypeRinging); m.CallID != "unsolicited" {
		t.Errorf("first unsolicited message %+v", m)
	}
	for range users {
		if m := expect(t, c, TypeError); m.RID != "no-such-request" {
			t.Errorf("unmatched reply %+v", m)
		}
	}
}

func TestClientRequestEnds(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	tests := []struct {
		name    string
		script  func(ws *websocket.Conn)
		timeout time.Duration
		wantErr error
	}{
		{name: "no reply before ctx ends", script: drain, timeout: 50 * time.Millisecond, wantErr: context.DeadlineExceeded},
		{name: "server hangs up instead of replying", timeout: waitTimeout, wantErr: ErrClosed, script: func(ws *websocket.Conn) {
			_, _, _ = ws.ReadMessage()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := fakeServer(t, func(ws *websocket.Conn) {
				writeJSON(ws, Message{Type: TypeWelcome})
				tt.script(ws)
			})
			c := dial(t, url)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			_, err := c.Request(ctx, Message{Type: TypeRegister, User: "alice"})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Request: %v, want an error matching %v", err, tt.wantErr)
			}
		})
	}
}

func TestClientClose(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	c := dial(t, ts.url)
	register(t, c, "alice")
	if c.Err() != nil {
		t.Fatalf("Err() = %v on a live connection", c.Err())
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	expectClosed(t, c)
	if err := c.Send(Message{Type: TypeRegister, User: "bob"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	if _, err := request(c, Message{Type: TypeRegister, User: "bob"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Request after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	waitFor(t, "the server to drop the connection", func() bool { return ts.srv.Health().Connections == 0 })
}

// A client that stops reading Messages must still be closable.
func TestClientCloseWithUnreadMessages(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	url := fakeServer(t, func(ws *websocket.Conn) {
		writeJSON(ws, Message{Type: TypeWelcome})
		for i := 0; i < 200; i++ { // more than the client buffers
			writeJSON(ws, Message{Type: TypeRinging, CallID: "flood"})
		}
		drain(ws)
	})
	c := dial(t, url)
	expect(t, c, TypeRinging) // the flood has begun
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestClientIgnoresMalformedServerMessages(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	url := fakeServer(t, func(ws *websocket.Conn) {
		writeJSON(ws, Message{Type: TypeWelcome})
		_ = ws.WriteMessage(websocket.TextMessage, []byte("garbage"))
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"v":9,"type":"end","callId":"x"}`))
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte(`{"v":1,"type":"end","callId":"x"}`))
		writeJSON(ws, Message{Type: TypeRinging, CallID: "good"})
		drain(ws)
	})
	c := dial(t, url)
	if m := expect(t, c, TypeRinging); m.CallID != "good" {
		t.Fatalf("got %+v", m)
	}
}

func TestClientSendTooLarge(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{})
	c := dial(t, ts.url)
	err := c.Send(Message{Type: TypeCall, CallID: "c", From: "a", To: "b", SDP: strings.Repeat("a", MaxMessageBytes)})
	if !errors.Is(err, ErrBadMessage) || errors.Is(err, ErrClosed) {
		t.Fatalf("Send: %v, want ErrBadMessage and not ErrClosed", err)
	}
	register(t, c, "alice") // the connection is still up
}
