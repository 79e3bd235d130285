package signaling

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/transport/v5/test"
)

// readUntilClosed reads until the server closes the connection and
// returns what arrived first and the close code (-1 if it ended without a
// close frame).
func (rc *rawConn) readUntilClosed() ([]Message, int) {
	rc.t.Helper()
	var got []Message
	for {
		data, err := rc.readFrame()
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				rc.t.Fatalf("connection still open after %s; got %d messages", waitTimeout, len(got))
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return got, ce.Code
			}
			return got, -1
		}
		m, err := Decode(data)
		if err != nil {
			rc.t.Fatalf("server sent %.200s: %v", data, err)
		}
		got = append(got, m)
	}
}

func lastError(t *testing.T, msgs []Message, code string) Message {
	t.Helper()
	if len(msgs) == 0 || msgs[len(msgs)-1].Type != TypeError || msgs[len(msgs)-1].Code != code {
		t.Fatalf("last message before the close: want an error %s, got %d messages ending %+v", code, len(msgs), msgs[max(0, len(msgs)-1):])
	}
	return msgs[len(msgs)-1]
}

// serveOn runs srv.Serve (not httptest) on a loopback port until cleanup.
func serveOn(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, srv.Handler(), waitTimeout) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestServerRateLimit(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	// One message a second after a burst of five: the flood below takes
	// far less than a second, so at most a token or two comes back.
	ts := startServer(t, ServerConfig{MessageRate: 1, MessageBurst: 5})
	bystander := dial(t, ts.url)
	register(t, bystander, "alice")

	t.Run("messages", func(t *testing.T) {
		flood := dialRaw(t, ts.url)
		for range 30 {
			if err := flood.ws.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"ringing","callId":"x"}`)); err != nil {
				break // the server may close before the flood ends
			}
		}
		msgs, code := flood.readUntilClosed()
		e := lastError(t, msgs, ErrCodeRateLimited)
		if !strings.Contains(e.Message, "closing the connection") {
			t.Errorf("rate_limited message %q does not say the connection closes", e.Message)
		}
		if code != closePolicyViolation {
			t.Errorf("close code %d, want %d (policy violation)", code, closePolicyViolation)
		}
		// The burst was served normally first.
		if n := len(msgs) - 1; n < 5 || n > 10 {
			t.Errorf("%d messages answered before the limit, want the burst of 5 (and a refill or two)", n)
		}
		for _, m := range msgs[:len(msgs)-1] {
			if m.Code != ErrCodeUnknownCall {
				t.Fatalf("within the burst got %+v, want unknown_call", m)
			}
		}
	})

	t.Run("binary frames count", func(t *testing.T) {
		flood := dialRaw(t, ts.url)
		for range 30 {
			if flood.ws.WriteMessage(websocket.BinaryMessage, []byte("x")) != nil {
				break
			}
		}
		msgs, code := flood.readUntilClosed()
		lastError(t, msgs, ErrCodeRateLimited)
		if code != closePolicyViolation {
			t.Errorf("close code %d", code)
		}
	})

	t.Run("pings count", func(t *testing.T) {
		flood := dialRaw(t, ts.url)
		for range 30 {
			if flood.ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(waitTimeout)) != nil {
				break
			}
		}
		msgs, code := flood.readUntilClosed()
		lastError(t, msgs, ErrCodeRateLimited)
		if code != closePolicyViolation {
			t.Errorf("close code %d", code)
		}
	})

	// The bystander kept its connection and its registration.
	requestRefused(t, dial(t, ts.url), Message{Type: TypeRegister, User: "alice"}, ErrCodeAlreadyRegistered)
	syncWith(t, bystander)
}

func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket(2, 3, t0)
	var got []bool
	for _, at := range []time.Duration{0, 0, 0, 0, 400 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 10 * time.Second,
		10 * time.Second, 10 * time.Second, 10 * time.Second} {
		got = append(got, b.allow(t0.Add(at)))
	}
	want := []bool{true, true, true, false, false, true, false, true, true, true, false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("allow sequence %v, want %v", got, want)
	}
	var none *bucket
	if !none.allow(t0) {
		t.Error("a nil bucket refused")
	}
}

func TestServerConnectionsPerAddress(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{MaxConnsPerAddr: 3})
	var conns []*Client
	for range 3 {
		conns = append(conns, dial(t, ts.url))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := Dial(ctx, ClientConfig{URL: ts.url})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "429") {
		t.Fatalf("fourth connection: %v, want ErrUnreachable with HTTP 429", err)
	}
	// The others are unaffected; closing one frees a slot.
	syncWith(t, conns[0])
	_ = conns[2].Close()
	var c *Client
	waitFor(t, "a free connection slot", func() bool {
		c, err = Dial(ctx, ClientConfig{URL: ts.url})
		return err == nil
	})
	_ = c.Close()
}

func TestServerRegistrationsPerAddress(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{MaxRegistrationsPerAddr: 2})
	a, b := dial(t, ts.url), dial(t, ts.url)
	register(t, a, "one")
	register(t, a, "two")
	se := requestRefused(t, b, Message{Type: TypeRegister, User: "three"}, ErrCodeLimitExceeded)
	if !strings.Contains(se.Message, "limit 2") {
		t.Errorf("message %q does not name the limit", se.Message)
	}
	register(t, a, "two") // holding it again is no new registration
	_ = a.Close()
	waitFor(t, "a's registrations to go", func() bool { return ts.srv.Health().Registered == 0 })
	register(t, b, "three")
}

func TestServerIdleTimeout(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	ts := startServer(t, ServerConfig{IdleTimeout: 300 * time.Millisecond})
	registered := dial(t, ts.url)
	register(t, registered, "alice")
	caller := dial(t, ts.url)
	setUpCall(t, caller, registered, "long-call", "bob", "alice")

	// A connection that never registers nor calls is told why and closed.
	idle := dialRaw(t, ts.url)
	msgs, code := idle.readUntilClosed()
	e := lastError(t, msgs, ErrCodeIdleTimeout)
	if len(msgs) != 1 || !strings.Contains(e.Message, "300ms") {
		t.Errorf("idle connection got %+v", msgs)
	}
	if code != closePolicyViolation {
		t.Errorf("close code %d, want %d", code, closePolicyViolation)
	}
	// By then the registered connection and the caller in a call have
	// been idle-checked at least once (they connected earlier); a second
	// idle connection makes sure of it. Both are still there.
	if _, code := dialRaw(t, ts.url).readUntilClosed(); code != closePolicyViolation {
		t.Errorf("second idle connection closed with %d", code)
	}
	syncWith(t, registered)
	syncWith(t, caller)
	expectNothingQueued(t, caller)

	// Once its call is over, the caller is idle like any other.
	send(t, caller, Message{Type: TypeEnd, CallID: "long-call"})
	expectEnd(t, registered, "long-call", StatusCancelled, "")
	m := expect(t, caller, TypeError)
	if m.Code != ErrCodeIdleTimeout {
		t.Fatalf("caller got %+v, want idle_timeout", m)
	}
	expectClosed(t, caller)
	syncWith(t, registered)
}

// HandshakeTimeout bounds the HTTP request that opens a connection: a
// client that connects and then dawdles is cut off.
func TestServerHandshakeTimeout(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	addr := serveOn(t, NewServer(ServerConfig{HandshakeTimeout: 200 * time.Millisecond}))

	for name, sent := range map[string]string{
		"nothing sent":     "",
		"half the headers": "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if sent != "" {
				if _, err := io.WriteString(conn, sent); err != nil {
					t.Fatal(err)
				}
			}
			_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
			_, err = io.ReadAll(conn) // returns when the server closes
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("server kept the connection open for %s", waitTimeout)
			}
		})
	}
	// A prompt client is served.
	c := dial(t, "ws://"+addr+"/ws")
	syncWith(t, c)
}

func TestServerOrigin(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	allowList := startServer(t, ServerConfig{AllowedOrigins: []string{"https://app.example.com", "http://localhost:3000/"}})
	sameHost := startServer(t, ServerConfig{})
	anyOrigin := startServer(t, ServerConfig{AllowedOrigins: []string{"*"}})
	host := func(ts *testServer) string {
		return "http://" + strings.TrimPrefix(strings.TrimSuffix(ts.url, "/ws"), "ws://")
	}

	tests := []struct {
		name   string
		ts     *testServer
		origin string
		ok     bool
	}{
		{"no Origin: command-line client", allowList, "", true},
		{"listed origin", allowList, "https://app.example.com", true},
		{"listed origin, other case and default port", allowList, "https://APP.example.com:443", true},
		{"second listed origin", allowList, "http://localhost:3000", true},
		{"other scheme", allowList, "http://app.example.com", false},
		{"other port", allowList, "https://app.example.com:8443", false},
		{"other host", allowList, "https://evil.example.com", false},
		{"suffix trick", allowList, "https://app.example.com.evil.net", false},
		{"null origin", allowList, "null", false},
		{"no list: same host", sameHost, host(sameHost), true},
		{"no list: other host", sameHost, "https://app.example.com", false},
		{"no list: no Origin", sameHost, "", true},
		{"wildcard", anyOrigin, "https://anything.example", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			c, err := Dial(ctx, ClientConfig{URL: tt.ts.url, Header: h})
			if tt.ok {
				if err != nil {
					t.Fatalf("Dial with Origin %q: %v", tt.origin, err)
				}
				_ = c.Close()
				return
			}
			if err == nil {
				_ = c.Close()
				t.Fatalf("Origin %q was let in", tt.origin)
			}
			if !strings.Contains(err.Error(), "403") {
				t.Fatalf("Dial err = %v, want HTTP 403", err)
			}
		})
	}
}

func TestValidateOrigin(t *testing.T) {
	for o, want := range map[string]bool{
		"*": true, "https://app.example.com": true, "http://localhost:3000": true, "https://app.example.com/": true,
		"app.example.com": false, "https://": false, "ftp://x": false, "https://x/path": false, "https://x?q": false,
		"https://u@x": false, "": false,
	} {
		if got := ValidateOrigin(o); got != want {
			t.Errorf("ValidateOrigin(%q) = %v, want %v", o, got, want)
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1 and returns it with a pool
// that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "callstat test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestServerTLS(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	cert, pool := selfSigned(t)
	addr := serveOn(t, NewServer(ServerConfig{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}))
	url := "wss://" + addr + "/ws"

	dctx, dcancel := context.WithTimeout(context.Background(), waitTimeout)
	defer dcancel()
	callee, err := Dial(dctx, ClientConfig{URL: url, TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatalf("wss with the CA: %v", err)
	}
	defer callee.Close()
	caller, err := Dial(dctx, ClientConfig{URL: url, TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	register(t, callee, "alice")
	setUpCall(t, caller, callee, "over-tls", "bob", "alice")

	// Without the CA the certificate is not trusted.
	if _, err := Dial(dctx, ClientConfig{URL: url}); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("wss without the CA: %v, want ErrUnreachable naming the certificate", err)
	}
	// Plain ws:// to a TLS port gets nowhere either.
	if _, err := Dial(dctx, ClientConfig{URL: "ws://" + addr + "/ws"}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("ws:// to a TLS server: %v", err)
	}
}
