package sip_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/gorilla/websocket"

	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/signaling/sip"
)

// A scripted SIP server: the tests below play the server's side message by
// message, for what a real server does rarely or not on demand.

const goodAnswer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E\r\n" +
	"a=setup:active\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"

type fakeServer struct {
	t  *testing.T
	ws *websocket.Conn
}

func startFake(t *testing.T, script func(f *fakeServer)) string {
	t.Helper()
	up := websocket.Upgrader{Subprotocols: []string{"sip"}}
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer close(done)
		defer ws.Close()
		script(&fakeServer{t: t, ws: ws})
	}))
	t.Cleanup(func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("fake server script did not finish")
		}
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

func (f *fakeServer) send(s string) {
	if err := f.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		f.t.Errorf("fake server write: %v", err)
	}
}

// read returns the next SIP message from the user agent (nil when the
// connection closed).
func (f *fakeServer) read() gosip.Message {
	_ = f.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := f.ws.ReadMessage()
	if err != nil {
		return nil
	}
	m, err := gosip.ParseMessage(data)
	if err != nil {
		f.t.Errorf("the user agent sent a malformed message: %v\n%s", err, data)
		return nil
	}
	return m
}

// readResponse returns the next final response to a method (sipgo's
// transaction layer may send a 100 Trying first, and answers header-less
// requests with a 400 of its own).
func (f *fakeServer) readResponse(method gosip.RequestMethod) *gosip.Response {
	f.t.Helper()
	for {
		m := f.read()
		if m == nil {
			return nil
		}
		if res, ok := m.(*gosip.Response); ok && !res.IsProvisional() && res.CSeq() != nil && res.CSeq().MethodName == method {
			return res
		}
	}
}

func (f *fakeServer) readRequest(method gosip.RequestMethod) *gosip.Request {
	f.t.Helper()
	for {
		m := f.read()
		if m == nil {
			f.t.Errorf("connection closed while waiting for %s", method)
			return nil
		}
		if req, ok := m.(*gosip.Request); ok && req.Method == method {
			return req
		}
	}
}

// reply answers req with code, extra header lines and an SDP body.
func (f *fakeServer) reply(req *gosip.Request, code int, reason, headers, body string) {
	res := gosip.NewResponseFromRequest(req, code, reason, nil)
	for _, line := range strings.Split(headers, "\r\n") {
		if name, value, ok := strings.Cut(line, ": "); ok {
			res.AppendHeader(gosip.NewHeader(name, value))
		}
	}
	if body != "" {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
		res.SetBody([]byte(body))
	} else {
		res.SetBody(nil)
	}
	f.send(res.String())
}

func dialFake(t *testing.T, url string, register bool) (*sip.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return sip.Dial(ctx, sip.Config{URL: url, User: "alice@example.com", Password: "pw", Register: register, Logger: testLogger(t)})
}

func next(t *testing.T, c *sip.Conn) signaling.Message {
	t.Helper()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			t.Fatalf("Messages closed: %v", c.Err())
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message from the user agent")
	}
	return signaling.Message{}
}

// TestRegisterChallengeLoop: a server that challenges every REGISTER (a
// wrong password) is answered once; the error names the status.
func TestRegisterChallengeLoop(t *testing.T) {
	checkRoutines(t)
	for _, code := range []int{401, 407} {
		url := startFake(t, func(f *fakeServer) {
			hdr, auth := "WWW-Authenticate", "Authorization"
			if code == 407 {
				hdr, auth = "Proxy-Authenticate", "Proxy-Authorization"
			}
			for i := 0; i < 2; i++ {
				req := f.readRequest(gosip.REGISTER)
				if req == nil {
					return
				}
				if i == 1 && req.GetHeader(auth) == nil {
					f.t.Errorf("second REGISTER without credentials")
				}
				f.reply(req, code, "Unauthorized", hdr+`: Digest realm="example.com", nonce="n`+string(rune('0'+i))+`", qop="auth", algorithm=MD5`, "")
			}
			f.read() // until the user agent closes
		})
		_, err := dialFake(t, url, true)
		if !errors.Is(err, signaling.ErrRegisterFailed) || !errors.Is(err, signaling.ErrAuth) {
			t.Fatalf("%d loop: err %v", code, err)
		}
		var se *sip.StatusError
		if !errors.As(err, &se) || se.Code != code {
			t.Errorf("%d loop: error %q does not carry the status", code, err)
		}
	}
}

// TestMalformedFromServer: junk, truncated and header-less messages are
// logged and skipped; the user agent still answers OPTIONS afterwards.
func TestMalformedFromServer(t *testing.T) {
	checkRoutines(t)
	checked := make(chan struct{})
	url := startFake(t, func(f *fakeServer) {
		for _, junk := range []string{
			"not SIP at all",
			"INVITE sip:alice@example.com SIP/2.0\r\nVia: broken\r\n\r\n",
			"SIP/2.0 200\r\n\r\n",
			"OPTIONS sip:alice@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n", // no Via, From, To, Call-ID
			"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKnone\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
			"BYE sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:alice@example.com>;tag=2\r\nCall-ID: nope\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
		} {
			f.send(junk)
		}
		// The BYE for no dialog gets 481.
		if m := f.readResponse(gosip.BYE); m == nil || m.StatusCode != 481 {
			f.t.Errorf("BYE for an unknown dialog answered %v, want 481", m)
		}
		f.send("OPTIONS sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bK2\r\nFrom: <sip:s@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
		res := f.readResponse(gosip.OPTIONS)
		if res == nil || res.StatusCode != gosip.StatusOK || res.GetHeader("Allow") == nil || !strings.Contains(res.GetHeader("Allow").Value(), "INVITE") {
			f.t.Errorf("OPTIONS answered %v, want 200 with Allow", res)
		}
		close(checked)
		f.read() // until the user agent closes
	})
	c, err := dialFake(t, url, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, checked, "the scripted server's checks")
	// Nothing reaches the phone from all that.
	select {
	case m, ok := <-c.Messages():
		if ok {
			t.Errorf("unexpected message %+v", m)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// TestDialogForgotten: a call answered, then a BYE the server answers
// 481 (it forgot the dialog): logged, the call is over, nothing breaks.
// Also: a 2xx whose SDP lacks what WebRTC needs is hung up with a clear
// error for the phone.
func TestDialogForgotten(t *testing.T) {
	checkRoutines(t)
	tests := []struct {
		name, answer string
		wantErr      string // in the "error" message; "" for a good answer
	}{
		{name: "good answer, BYE 481", answer: goodAnswer},
		{name: "no fingerprint", answer: strings.Replace(goodAnswer, "a=fingerprint:", "a=x-fp:", 1), wantErr: "DTLS fingerprint"},
		{name: "no ICE credentials", answer: strings.Replace(goodAnswer, "a=ice-pwd:", "a=x-pwd:", 1), wantErr: "ICE credentials (a=ice-pwd)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The 200 waits until the phone has seen the ringing: sipgo
			// handles each message in a goroutine of its own, so a 180 and
			// a 200 sent together may be handled in either order.
			rang := make(chan struct{})
			url := startFake(t, func(f *fakeServer) {
				inv := f.readRequest(gosip.INVITE)
				if inv == nil {
					return
				}
				f.reply(inv, 100, "Trying", "", "")
				f.reply(inv, 180, "Ringing", "", "")
				select {
				case <-rang:
				case <-time.After(10 * time.Second):
					f.t.Error("the phone never saw the ringing")
					return
				}
				f.reply(inv, 200, "OK", "Contact: <sip:bob@127.0.0.1;transport=ws>", tt.answer)
				if ack := f.readRequest(gosip.ACK); ack == nil {
					return
				}
				bye := f.readRequest(gosip.BYE)
				if bye == nil {
					return
				}
				f.reply(bye, 481, "Call/Transaction Does Not Exist", "", "")
				f.read()
			})
			c, err := dialFake(t, url, false)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Send(signaling.Message{Type: signaling.TypeCall, CallID: "c1", From: "alice@example.com", To: "bob", SDP: goodAnswer}); err != nil {
				t.Fatal(err)
			}
			want := []signaling.Type{signaling.TypeTrying, signaling.TypeRinging}
			if tt.wantErr == "" {
				want = append(want, signaling.TypeAnswer)
			} else {
				want = append(want, signaling.TypeError)
			}
			for _, w := range want {
				m := next(t, c)
				if m.Type != w || m.CallID != "c1" {
					t.Fatalf("got %+v, want %s", m, w)
				}
				if w == signaling.TypeError && !strings.Contains(m.Message, tt.wantErr) {
					t.Errorf("error %q does not name %q", m.Message, tt.wantErr)
				}
				if w == signaling.TypeRinging {
					close(rang)
				}
			}
			if tt.wantErr == "" {
				if err := c.Send(signaling.Message{Type: signaling.TypeEnd, CallID: "c1", Status: 200}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestIncomingOfferUnusable: an INVITE whose offer has no Opus, or is
// plain RTP, is refused with 488 and a Warning naming what is missing;
// the phone never sees it.
func TestIncomingOfferUnusable(t *testing.T) {
	checkRoutines(t)
	pcmu := strings.NewReplacer("UDP/TLS/RTP/SAVPF 111", "RTP/AVP 0", "a=rtpmap:111 opus/48000/2", "a=rtpmap:0 PCMU/8000").Replace(goodAnswer)
	refused := make(chan struct{})
	url := startFake(t, func(f *fakeServer) {
		f.send("INVITE sip:alice@x.invalid;transport=ws SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bK9\r\nFrom: <sip:bob@example.com>;tag=b1\r\n" +
			"To: <sip:alice@example.com>\r\nCall-ID: in1\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@127.0.0.1>\r\nContent-Type: application/sdp\r\n" +
			"Content-Length: " + itoa(len(pcmu)) + "\r\n\r\n" + pcmu)
		res := f.readResponse(gosip.INVITE)
		if res == nil || res.StatusCode != 488 {
			f.t.Errorf("answered %v, want 488", res)
			return
		}
		w := res.GetHeader("Warning")
		if w == nil || !strings.Contains(w.Value(), "Opus") || !strings.Contains(w.Value(), "PCMU/8000") || !strings.Contains(w.Value(), "DTLS-SRTP") {
			f.t.Errorf("Warning %v does not name the missing codec and transport", w)
		}
		close(refused)
		f.read() // until the user agent closes
	})
	c, err := dialFake(t, url, false)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, refused, "the 488")
	select {
	case m := <-c.Messages():
		t.Errorf("the phone was offered %+v", m)
	case <-time.After(300 * time.Millisecond):
	}
	_ = c.Close()
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func TestNormalizeID(t *testing.T) {
	checkRoutines(t)
	tests := []struct{ in, domain, want, err string }{
		{in: "alice@example.com", want: "sip:alice@example.com"},
		{in: "sip:alice@example.com", want: "sip:alice@example.com"},
		{in: "<sip:alice@Example.COM;transport=ws>", want: "sip:alice@example.com"},
		{in: " sips:bob@example.com ", want: "sips:bob@example.com"},
		{in: "bob", domain: "example.com", want: "sip:bob@example.com"},
		{in: "bob", err: "needs a user and a host"},
		{in: "tel:+15551234", err: "scheme"},
		{in: "", err: "empty"},
	}
	for _, tt := range tests {
		got, err := sip.NormalizeID(tt.in, tt.domain)
		switch {
		case tt.err != "":
			if !errors.Is(err, sip.ErrBadID) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("NormalizeID(%q) = %q, %v; want an error about %q", tt.in, got, err, tt.err)
			}
		case err != nil || got != tt.want:
			t.Errorf("NormalizeID(%q, %q) = %q, %v; want %q", tt.in, tt.domain, got, err, tt.want)
		}
	}
}

func TestCheckSDP(t *testing.T) {
	checkRoutines(t)
	tests := []struct {
		name, sdp, err string
		dir            sip.Direction
	}{
		{name: "webrtc", sdp: goodAnswer, dir: sip.SendRecv},
		{name: "held", sdp: strings.Replace(goodAnswer, "a=sendrecv", "a=sendonly", 1), dir: sip.SendOnly},
		{name: "empty", sdp: "", err: "empty"},
		{name: "garbage", sdp: "hello", err: "not an SDP"},
		{name: "no audio", sdp: strings.Replace(goodAnswer, "m=audio 9", "m=video 9", 1), err: "no audio stream"},
		{name: "rejected audio", sdp: strings.Replace(goodAnswer, "m=audio 9", "m=audio 0", 1), err: "no audio stream"},
		{name: "no opus", sdp: strings.Replace(goodAnswer, "opus/48000/2", "G722/8000", 1), err: "Opus audio codec (offered: G722/8000)"},
		{name: "no fingerprint", sdp: strings.Replace(goodAnswer, "a=fingerprint", "a=x", 1), err: "DTLS fingerprint"},
		{name: "no ufrag", sdp: strings.Replace(goodAnswer, "a=ice-ufrag", "a=x", 1), err: "a=ice-ufrag"},
		{name: "plain RTP", sdp: strings.Replace(goodAnswer, "UDP/TLS/RTP/SAVPF", "RTP/AVP", 1), err: "not UDP/TLS/RTP/SAVPF"},
		{name: "no mid", sdp: strings.Replace(goodAnswer, "a=mid:0\r\n", "", 1), err: "a media stream identification (a=mid)"},
	}
	for _, tt := range tests {
		info, err := sip.CheckSDP([]byte(tt.sdp))
		if tt.err == "" {
			if err != nil || info.Direction != tt.dir {
				t.Errorf("%s: %+v, %v", tt.name, info, err)
			}
			continue
		}
		if !errors.Is(err, sip.ErrUnusableSDP) || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err %v, want one naming %q", tt.name, err, tt.err)
		}
	}
}

// TestTimers: sipgo's transaction timers end what the server leaves
// hanging (TestMain shortens them: 64*T1 = 6.4 s). An INVITE without any
// response ends with 408 at Timer B; a 200 OK the server never
// acknowledges is sent again until Timer L, then the call is hung up (BYE)
// and ends with 408.
func TestTimers(t *testing.T) {
	checkRoutines(t)
	t.Run("Timer B", func(t *testing.T) {
		t.Parallel()
		url := startFake(t, func(f *fakeServer) {
			if f.readRequest(gosip.INVITE) == nil {
				return
			}
			f.read() // no answer at all, until the user agent closes
		})
		c, err := dialFake(t, url, false)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Send(signaling.Message{Type: signaling.TypeCall, CallID: "tb", From: "alice@example.com", To: "bob", SDP: goodAnswer}); err != nil {
			t.Fatal(err)
		}
		m := next(t, c)
		if m.Type != signaling.TypeEnd || m.Status != 408 || !strings.Contains(m.Reason, "no response from the server") {
			t.Errorf("got %+v, want end 408 naming the missing response", m)
		}
	})
	t.Run("no ACK", func(t *testing.T) {
		t.Parallel()
		var oks int
		byed := make(chan struct{})
		url := startFake(t, func(f *fakeServer) {
			f.send("INVITE sip:alice@x.invalid;transport=ws SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bKna1\r\nFrom: <sip:bob@example.com>;tag=b1\r\n" +
				"To: <sip:alice@example.com>\r\nCall-ID: na1\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@127.0.0.1;transport=ws>\r\nContent-Type: application/sdp\r\n" +
				"Content-Length: " + itoa(len(goodAnswer)) + "\r\n\r\n" + goodAnswer)
			for {
				m := f.read()
				switch m := m.(type) {
				case nil:
					return
				case *gosip.Response:
					if m.StatusCode == gosip.StatusOK {
						oks++ // and no ACK
					}
				case *gosip.Request:
					if m.Method == gosip.BYE {
						f.reply(m, 200, "OK", "", "")
						close(byed)
						f.read()
						return
					}
				}
			}
		})
		c, err := dialFake(t, url, false)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if m := next(t, c); m.Type != signaling.TypeIncoming {
			t.Fatalf("got %+v, want incoming", m)
		}
		if err := c.Send(signaling.Message{Type: signaling.TypeAnswer, CallID: "na1", SDP: goodAnswer}); err != nil {
			t.Fatal(err)
		}
		m := next(t, c)
		if m.Type != signaling.TypeEnd || m.Status != 408 || !strings.Contains(m.Reason, "no ACK") {
			t.Errorf("got %+v, want end 408 naming the missing ACK", m)
		}
		waitFor(t, byed, "the BYE")
		if oks < 2 {
			t.Errorf("the 200 OK went %d times; it is sent again until the ACK", oks)
		}
	})
}
