package servecmd

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
)

func TestNewCmdServe(t *testing.T) {
	tests := []struct {
		name      string
		args      string
		env       map[string]string
		want      string
		wantToken string
		wantErr   string
	}{
		{name: "default", args: "", want: "127.0.0.1:8080", wantToken: "http://127.0.0.1:3000/callparameters"},
		{name: "page token url", args: "--page-token-url http://127.0.0.1:3001/p", want: "127.0.0.1:8080", wantToken: "http://127.0.0.1:3001/p"},
		{name: "flag", args: "--listen [::1]:9000", want: "[::1]:9000"},
		{name: "env", env: map[string]string{"CALLSTAT_LISTEN": "0.0.0.0:1"}, want: "0.0.0.0:1"},
		{name: "no port", args: "--listen localhost", wantErr: "invalid --listen"},
		{name: "bad ping", args: "--ping-interval 0s", wantErr: "--ping-interval must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(tt.env)
			var got *Options
			cmd := NewCmdServe(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(strings.Fields(tt.args))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.ExecuteContext(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Listen != tt.want {
				t.Errorf("listen = %q, want %q", got.Listen, tt.want)
			}
			if tt.wantToken != "" && got.TokenURL != tt.wantToken {
				t.Errorf("token URL = %q, want %q", got.TokenURL, tt.wantToken)
			}
		})
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	f, _, _ := cmdutil.TestFactory(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveRun(ctx, &Options{Factory: f, Listener: ln, PingInterval: time.Second, ShutdownTimeout: time.Second,
			Ready: func(a string) { ready <- a }})
	}()
	addr := <-ready
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || h.Status != "ok" {
		t.Errorf("healthz: %v %+v", err, h)
	}
	_ = resp.Body.Close()
	// The browser page is on the same port, with the build's version.
	resp, err = http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	want := `<meta name="callstat-version" content="` + f.Build.Version + `">`
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), want) {
		t.Errorf("GET / = %d, want 200 with %s", resp.StatusCode, want)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunListenError(t *testing.T) {
	f, _, _ := cmdutil.TestFactory(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = serveRun(context.Background(), &Options{Factory: f, Listen: ln.Addr().String(), PingInterval: time.Second})
	if err == nil || !strings.Contains(err.Error(), "cannot listen") {
		t.Errorf("err = %v, want a listen error", err)
	}
}

func TestNewCmdServeSecurityFlags(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "realm.key")
	if err := os.WriteFile(key, []byte("0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		args        string
		env         map[string]string
		wantTokens  bool
		wantTTL     time.Duration
		wantOrigins int
		wantErr     string
	}{
		{name: "no realm: open server", args: ""},
		{name: "realm and key file", args: "--realm r --key-file " + key, wantTokens: true, wantTTL: 10 * time.Minute},
		{name: "ttl", args: "--realm r --key-file " + key + " --token-ttl 30s", wantTokens: true, wantTTL: 30 * time.Second},
		{name: "key in the environment", args: "--realm r", env: map[string]string{"CALLSTAT_TOKEN_KEY": "0123456789abcdef0123456789abcdef"},
			wantTokens: true, wantTTL: 10 * time.Minute},
		{name: "origins", args: "--allowed-origin https://a.example.com --allowed-origin http://localhost:3000", wantOrigins: 2},
		{name: "limits off", args: "--rate-limit 0 --rate-burst 0 --max-conns-per-ip 0 --max-registrations-per-ip 0 --idle-timeout 0"},
		{name: "realm without key", args: "--realm r", wantErr: "key is required"},
		{name: "key without realm", args: "--key-file " + key, wantErr: "--realm is required"},
		{name: "bad key", args: "--realm r", env: map[string]string{"CALLSTAT_TOKEN_KEY": "short"}, wantErr: "16 or 32"},
		{name: "zero ttl", args: "--realm r --key-file " + key + " --token-ttl 0s", wantErr: "--token-ttl must be positive"},
		{name: "bad origin", args: "--allowed-origin example.com", wantErr: "invalid --allowed-origin"},
		{name: "negative limit", args: "--max-conns-per-ip -1", wantErr: "must not be negative"},
		{name: "half a rate limit", args: "--rate-limit 0", wantErr: "go together"},
		{name: "cert without key", args: "--tls-cert " + key, wantErr: "--tls-cert and --tls-key go together"},
		{name: "unusable cert", args: "--tls-cert " + key + " --tls-key " + key, wantErr: "cannot load"},
		{name: "zero handshake timeout", args: "--handshake-timeout 0s", wantErr: "--handshake-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(tt.env)
			var got *Options
			err := cmdutil.ExecuteForTest(NewCmdServe(f, func(_ context.Context, o *Options) error { got = o; return nil }), tt.args)
			if tt.wantErr != "" {
				if !cmdutil.IsFlagErrorWith(err, tt.wantErr) {
					t.Fatalf("err = %v, want a FlagError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got.Tokens != nil) != tt.wantTokens || (got.Tokens != nil && (got.Tokens.TTL != tt.wantTTL || got.Tokens.Realm != "r")) {
				t.Errorf("Tokens = %+v, want tokens %v with TTL %s", got.Tokens, tt.wantTokens, tt.wantTTL)
			}
			if len(got.AllowedOrigins) != tt.wantOrigins {
				t.Errorf("origins %v", got.AllowedOrigins)
			}
		})
	}
}

func TestOrOff(t *testing.T) {
	if orOff(0) != -1 || orOff(5) != 5 || orOff(0.0) != -1 || orOff(time.Duration(0)) != -1 || orOff(time.Second) != time.Second {
		t.Error("orOff maps 0 to -1 and keeps the rest")
	}
}

func TestNewCmdServeNATS(t *testing.T) {
	tests := []struct {
		name, args, wantErr string
	}{
		{name: "node", args: "--nats nats://10.0.0.2:4222,nats://10.0.0.3:4222 --node-timeout 2s --nats-replicas 3"},
		{name: "bad url", args: "--nats 10.0.0.2:4222", wantErr: "NATS URL"},
		{name: "no node timeout", args: "--nats nats://x:1 --node-timeout 0s", wantErr: "--node-timeout"},
		{name: "replicas", args: "--nats nats://x:1 --nats-replicas 7", wantErr: "--nats-replicas"},
		{name: "ca without nats", args: "--nats-ca ca.pem", wantErr: "need --nats"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(nil)
			var got *Options
			err := cmdutil.ExecuteForTest(NewCmdServe(f, func(_ context.Context, o *Options) error { got = o; return nil }), tt.args)
			if tt.wantErr != "" {
				if !cmdutil.IsFlagErrorWith(err, tt.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Enabled() || got.NodeTimeout != 2*time.Second || got.NATSReplicas != 3 {
				t.Errorf("options %+v", got)
			}
		})
	}
}
