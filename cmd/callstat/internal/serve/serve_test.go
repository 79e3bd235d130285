package serve

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
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
		done <- Run(ctx, &Options{Factory: f, Listener: ln, PingInterval: time.Second, ShutdownTimeout: time.Second,
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
	err = Run(context.Background(), &Options{Factory: f, Listen: ln.Addr().String(), PingInterval: time.Second})
	if err == nil || !strings.Contains(err.Error(), "cannot listen") {
		t.Errorf("err = %v, want a listen error", err)
	}
}
