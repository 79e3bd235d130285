package call

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/signaling/token"
)

// tokenServer runs a signaling server that requires tokens of realm "r".
func tokenServer(t *testing.T, key token.Key) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := signaling.NewServer(signaling.ServerConfig{Logger: testLogger(t), Tokens: &token.Verifier{Realm: "r", Key: key}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, srv.Handler(), 2*time.Second) }()
	return "ws://" + ln.Addr().String() + "/ws", func() {
		cancel()
		<-done
	}
}

func TestCallWithTokens(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	key, err := token.ParseKey("0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	url, stop := tokenServer(t, key)
	defer stop()
	tone := testSource(t, "tone")
	defer tone.Close()
	p, err := token.Generate(key, token.Request{Realm: "r", Account: "bob@example.com", Caller: "sip:bob@example.com", Callee: "sip:alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	phone := func(id string, register bool, cfg Config) (*Phone, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cfg.ServerURL, cfg.Identity, cfg.Register, cfg.Source, cfg.ICELoopback, cfg.Logger = url, id, register, tone, true, testLogger(t)
		return NewPhone(ctx, cfg)
	}

	t.Run("registration without a token", func(t *testing.T) {
		_, err := phone("sip:alice@example.com", true, Config{})
		if !errors.Is(err, ErrAuth) || !errors.Is(err, ErrRegisterFailed) || !strings.Contains(err.Error(), "call:7") {
			t.Fatalf("err = %v, want ErrAuth and ErrRegisterFailed with code call:7", err)
		}
	})
	t.Run("registration with another id's token", func(t *testing.T) {
		_, err := phone("sip:alice@example.com", true, Config{RegisterToken: p.FromToken})
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "code 46") {
			t.Fatalf("err = %v, want ErrAuth with code 46", err)
		}
	})

	alice, err := phone("sip:alice@example.com", true, Config{RegisterToken: p.ToToken})
	if err != nil {
		t.Fatalf("registration with the callee's token: %v", err)
	}
	answering := autoAnswer(t, alice)
	defer answering.Wait()
	defer alice.Close()

	tests := []struct {
		name     string
		creds    *signaling.Credentials
		wantCode string // "" = connects
	}{
		{"no credentials", nil, "call:7"},
		{"wrong realm", &signaling.Credentials{Realm: "x", AccountToken: p.AccountToken, FromToken: p.FromToken, ToToken: p.ToToken}, "64"},
		{"tampered", &signaling.Credentials{Realm: "r", AccountToken: p.AccountToken, FromToken: p.FromToken, ToToken: p.ToToken[1:]}, "46"},
		{"valid", &signaling.Credentials{Realm: "r", AccountToken: p.AccountToken, FromToken: p.FromToken, ToToken: p.ToToken}, ""},
	}
	for _, tt := range tests {
		t.Run("call/"+tt.name, func(t *testing.T) {
			bob, err := phone("sip:bob@example.com", false, Config{Credentials: tt.creds})
			if err != nil {
				t.Fatal(err)
			}
			defer bob.Close()
			c, err := bob.Dial(context.Background(), "sip:alice@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantCode == "" {
				wait(t, c.Connected(), "the call with valid tokens to connect")
				c.Hangup("done")
				wait(t, c.Done(), "the call to end")
				if c.Err() != nil {
					t.Fatalf("err = %v", c.Err())
				}
				return
			}
			wait(t, c.Done(), "the refused call to end")
			if err := c.Err(); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "(code "+tt.wantCode+")") {
				t.Fatalf("err = %v, want ErrAuth with code %s", err, tt.wantCode)
			}
			if c.State() != StateEnded {
				t.Fatalf("state %s, want Ended", c.State())
			}
		})
	}
}
