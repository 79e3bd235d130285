package signaling

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/signaling/token"
)

const (
	testRealm = "test-realm"
	testKey   = "0123456789abcdefghijklmnopqrstuv" // 32 characters: CBC + HMAC
)

// authServer runs a server that requires tokens, with a clock the test
// moves; mint makes token sets on that clock.
type authServer struct {
	*testServer
	now atomic.Int64 // Unix ms
	key token.Key
}

func startAuthServer(t *testing.T, ttl time.Duration) *authServer {
	t.Helper()
	k, err := token.ParseKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	as := &authServer{key: k}
	as.now.Store(1_700_000_000_000)
	as.testServer = startServer(t, ServerConfig{Tokens: &token.Verifier{
		Realm: testRealm, Key: k, TTL: ttl,
		Now: func() time.Time { return time.UnixMilli(as.now.Load()) },
	}})
	return as
}

func (as *authServer) mint(t *testing.T, caller, callee string) token.Params {
	t.Helper()
	p, err := token.Generate(as.key, token.Request{Realm: testRealm, Account: "acct@example.com", Caller: caller, Callee: callee,
		Timestamp: as.now.Load()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func creds(p token.Params) *Credentials {
	return &Credentials{Realm: p.Realm, AccountToken: p.AccountToken, FromToken: p.FromToken, ToToken: p.ToToken}
}

// flip changes one hex digit in the middle of a token.
func flip(tok string) string {
	i := len(tok) / 2
	b := []byte(tok)
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}

// Every rejection path, each with the SDK's code, for registration and
// for calls; and nothing refused reaches the callee.
func TestServerRequiresTokens(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	as := startAuthServer(t, 10*time.Minute)
	callee, caller := dial(t, as.url), dial(t, as.url)
	p := as.mint(t, "sip:bob@example.com", "sip:alice@example.com")
	other := as.mint(t, "sip:eve@example.com", "sip:mallory@example.com")

	registrations := []struct {
		name     string
		msg      Message
		wantCode string
	}{
		{"no token", Message{Type: TypeRegister, User: "sip:alice@example.com"}, ErrCodeIncomplete},
		{"garbage token", Message{Type: TypeRegister, User: "sip:alice@example.com", Token: "hello"}, ErrCodeInvalidToken},
		{"someone else's token", Message{Type: TypeRegister, User: "sip:alice@example.com", Token: other.ToToken}, ErrCodeInvalidToken},
		{"the caller's token", Message{Type: TypeRegister, User: "sip:alice@example.com", Token: p.FromToken}, ErrCodeInvalidToken},
		{"tampered token", Message{Type: TypeRegister, User: "sip:alice@example.com", Token: flip(p.ToToken)}, ErrCodeInvalidToken},
	}
	for _, tt := range registrations {
		t.Run("register/"+tt.name, func(t *testing.T) {
			se := requestRefused(t, callee, tt.msg, tt.wantCode)
			if !strings.Contains(se.Message, "sip:alice@example.com") {
				t.Errorf("message %q does not name the id", se.Message)
			}
		})
	}
	if h := as.srv.Health(); h.Registered != 0 {
		t.Fatalf("%d ids registered after refusals", h.Registered)
	}
	// The token covers the id with or without "sip:".
	reg := Message{Type: TypeRegister, User: "sip:alice@example.com", Token: p.ToToken}
	if _, err := request(callee, reg); err != nil {
		t.Fatalf("valid registration refused: %v", err)
	}

	with := func(f func(*Credentials)) *Credentials { c := creds(p); f(c); return c }
	calls := []struct {
		name     string
		from, to string
		creds    *Credentials
		wantCode string
		wantText string
	}{
		{"no credentials", "sip:bob@example.com", "sip:alice@example.com", nil, ErrCodeIncomplete, "the call carries no credentials; this server requires tokens of realm \"test-realm\""},
		{"no toToken", "sip:bob@example.com", "sip:alice@example.com", with(func(c *Credentials) { c.ToToken = "" }), ErrCodeIncomplete, "toToken"},
		{"no realm", "sip:bob@example.com", "sip:alice@example.com", with(func(c *Credentials) { c.Realm = "" }), ErrCodeIncomplete, "realm"},
		{"wrong realm", "sip:bob@example.com", "sip:alice@example.com", with(func(c *Credentials) { c.Realm = "elsewhere" }), ErrCodeInvalidRealm, "invalid realm"},
		{"tampered fromToken", "sip:bob@example.com", "sip:alice@example.com", with(func(c *Credentials) { c.FromToken = flip(c.FromToken) }), ErrCodeInvalidToken, "invalid token"},
		{"tampered accountToken", "sip:bob@example.com", "sip:alice@example.com", with(func(c *Credentials) { c.AccountToken = flip(c.AccountToken) }), ErrCodeInvalidToken, "accountToken"},
		{"claims another caller", "sip:eve@example.com", "sip:alice@example.com", creds(p), ErrCodeInvalidToken, "fromToken"},
		{"claims another callee", "sip:bob@example.com", "sip:carol@example.com", creds(p), ErrCodeInvalidToken, "toToken"},
		{"tokens of two sets", "sip:bob@example.com", "sip:alice@example.com", with(func(c *Credentials) { c.AccountToken = other.AccountToken }), ErrCodeInvalidToken, "minted together"},
	}
	for i, tt := range calls {
		t.Run("call/"+tt.name, func(t *testing.T) {
			m := Message{Type: TypeCall, CallID: "refused-" + string(rune('a'+i)), From: tt.from, To: tt.to, SDP: offerSDP, Credentials: tt.creds}
			se := requestRefused(t, caller, m, tt.wantCode)
			if !strings.Contains(se.Message, tt.wantText) {
				t.Errorf("message %q does not contain %q", se.Message, tt.wantText)
			}
		})
	}
	// A caller with bad credentials does not learn whether the callee is
	// registered: the refusal comes before routing.
	requestRefused(t, caller, Message{Type: TypeCall, CallID: "nobody", From: "sip:bob@example.com", To: "sip:nobody@example.com", SDP: offerSDP},
		ErrCodeIncomplete)
	syncWith(t, callee)
	expectNothingQueued(t, callee)
	if h := as.srv.Health(); h.Calls != 0 {
		t.Fatalf("%d calls up after refusals", h.Calls)
	}

	// The valid set goes through, and the callee never sees the tokens.
	send(t, caller, Message{Type: TypeCall, CallID: "good", From: "sip:bob@example.com", To: "sip:alice@example.com", SDP: offerSDP, Credentials: creds(p)})
	expect(t, caller, TypeTrying)
	if in := expect(t, callee, TypeIncoming); in.Credentials != nil || in.Token != "" {
		t.Fatalf("incoming carries credentials: %+v", in)
	}
}

// A token set works for as long as its TTL and is refused once past it,
// with code 65; a registration too. The clock is moved, nothing sleeps.
func TestServerTokenExpires(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	as := startAuthServer(t, time.Minute)
	callee, caller := dial(t, as.url), dial(t, as.url)
	p := as.mint(t, "bob", "alice")
	minted := as.now.Load()
	call := func(id string, p token.Params) Message {
		return Message{Type: TypeCall, CallID: id, From: "bob", To: "alice", SDP: offerSDP, Credentials: creds(p)}
	}

	as.now.Store(minted + time.Minute.Milliseconds())
	if _, err := request(callee, Message{Type: TypeRegister, User: "alice", Token: p.ToToken}); err != nil {
		t.Fatalf("registration at the end of the TTL: %v", err)
	}
	// The same set places calls for as long as it is valid.
	for i, at := range []time.Duration{0, 30 * time.Second, time.Minute} {
		as.now.Store(minted + at.Milliseconds())
		id := fmt.Sprintf("in-time-%d", i)
		send(t, caller, call(id, p))
		expect(t, caller, TypeTrying)
		expect(t, callee, TypeIncoming)
		send(t, caller, Message{Type: TypeEnd, CallID: id})
		expectEnd(t, callee, id, StatusCancelled, "")
	}

	as.now.Store(minted + time.Minute.Milliseconds() + 1)
	se := requestRefused(t, caller, call("too-late", p), ErrCodeTokenExpired)
	if !strings.Contains(se.Message, "token expired") {
		t.Errorf("message %q lacks the SDK's words", se.Message)
	}
	requestRefused(t, dial(t, as.url), Message{Type: TypeRegister, User: "alice", Token: p.ToToken}, ErrCodeTokenExpired)

	// A registration lasts as long as its connection: fresh tokens reach
	// the callee that registered with the now expired one.
	send(t, caller, call("fresh", as.mint(t, "bob", "alice")))
	expect(t, caller, TypeTrying)
	expect(t, callee, TypeIncoming)

	// A set minted beyond the allowed skew ahead of the server's clock.
	as.now.Store(minted - token.DefaultSkew.Milliseconds() - 1)
	requestRefused(t, caller, call("from-the-future", p), ErrCodeInvalidToken)
	as.now.Store(minted - token.DefaultSkew.Milliseconds())
	send(t, caller, call("just-in-skew", p))
	expect(t, caller, TypeTrying)
}
