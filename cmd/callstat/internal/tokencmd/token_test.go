package tokencmd

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
	"github.com/callstat/callstat/internal/testkit/testdata"
	"github.com/callstat/callstat/pkg/signaling/token"
)

type vector struct {
	Key       string       `json:"key"`
	IV        string       `json:"iv"`
	Timestamp int64        `json:"timestamp"`
	Account   string       `json:"account"`
	Params    token.Params `json:"params"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile(testdata.Path(t, "token", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Vectors []vector }
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	return file.Vectors
}

func keyFile(t *testing.T, key string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "realm.key")
	if err := os.WriteFile(p, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewCmdToken(t *testing.T) {
	k16, k32 := keyFile(t, "0123456789abcdef"), keyFile(t, "0123456789abcdef0123456789abcdef")
	tests := []struct {
		name       string
		args       string
		env        map[string]string
		wantCaller string
		wantErr    string
	}{
		{name: "minimal", args: "--realm r --key-file " + k16 + " --account bob@x --callee sip:alice@x", wantCaller: "sip:bob@x"},
		{name: "explicit caller", args: "--realm r --key-file " + k16 + " --account acct@x --caller sip:bob@x --callee sip:alice@x", wantCaller: "sip:bob@x"},
		{name: "environment", args: "--account bob@x --callee c",
			env: map[string]string{cmdutil.EnvRealm: "r", cmdutil.EnvKeyFile: k32}, wantCaller: "sip:bob@x"},
		{name: "key in the environment", args: "--realm r --account bob@x --callee c",
			env: map[string]string{cmdutil.EnvTokenKey: "0123456789abcdef"}, wantCaller: "sip:bob@x"},
		{name: "iv with a 32-character key", args: "--realm r --key-file " + k32 + " --account a --callee c --iv AbCdEfGh12345678", wantCaller: "sip:a"},
		{name: "no realm", args: "--key-file " + k16 + " --account a --callee c", wantErr: "--realm is required"},
		{name: "no key", args: "--realm r --account a --callee c", wantErr: "key is required"},
		{name: "bad key length", args: "--realm r --key-file " + keyFile(t, "short") + " --account a --callee c", wantErr: "16 or 32"},
		{name: "no account", args: "--realm r --key-file " + k16 + " --callee c", wantErr: "--account is required"},
		{name: "no callee", args: "--realm r --key-file " + k16 + " --account a", wantErr: "--callee is required"},
		{name: "iv with a 16-character key", args: "--realm r --key-file " + k16 + " --account a --callee c --iv AbCdEfGh12345678", wantErr: "32-character keys only"},
		{name: "bad iv", args: "--realm r --key-file " + k32 + " --account a --callee c --iv short", wantErr: "invalid --iv"},
		{name: "negative timestamp", args: "--realm r --key-file " + k16 + " --account a --callee c --timestamp -1", wantErr: "--timestamp"},
		{name: "argument", args: "--realm r --key-file " + k16 + " --account a --callee c extra", wantErr: "unknown command"},
		{name: "key as a flag value is no option", args: "--realm r --key 0123456789abcdef --account a --callee c", wantErr: "unknown flag: --key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(tt.env)
			var got *Options
			err := cmdutil.ExecuteForTest(NewCmdToken(f, func(_ context.Context, o *Options) error { got = o; return nil }), tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Caller != tt.wantCaller {
				t.Errorf("caller = %q, want %q", got.Caller, tt.wantCaller)
			}
		})
	}
}

// The command prints the vectors (computed with openssl) for their key,
// timestamp and IV.
func TestRunPrintsVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		f, out, _ := cmdutil.TestFactory(nil)
		args := []string{"--realm", v.Params.Realm, "--key-file", keyFile(t, v.Key), "--account", v.Account,
			"--caller", v.Params.Caller, "--callee", v.Params.Callee, "--timestamp", "1700000000000"}
		if v.IV != "" {
			args = append(args, "--iv", v.IV)
		}
		if err := cmdutil.ExecuteForTest(NewCmdToken(f, nil), strings.Join(args, " ")); err != nil {
			t.Fatal(err)
		}
		p, err := token.ParseParams(out.Bytes())
		if err != nil || p != v.Params {
			t.Fatalf("printed %s (%v), want %+v", out, err, v.Params)
		}
		if !strings.HasPrefix(out.String(), "{\n  \"realm\": ") {
			t.Errorf("output is not the indented parameters object:\n%s", out)
		}
	}
}

func TestRunUsesNow(t *testing.T) {
	f, out, _ := cmdutil.TestFactory(nil)
	key := "0123456789abcdef"
	if err := cmdutil.ExecuteForTest(NewCmdToken(f, nil), "--realm r --key-file "+keyFile(t, key)+" --account a@x --callee sip:c@x"); err != nil {
		t.Fatal(err)
	}
	p, err := token.ParseParams(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	k, _ := token.ParseKey(key)
	c, err := k.Open(p.ToToken)
	if err != nil || c.User != "sip:c@x" || c.Timestamp != f.Now().UnixMilli() {
		t.Fatalf("toToken opens to %+v, %v; want sip:c@x at the factory's now", c, err)
	}
}

func TestNewCmdServe(t *testing.T) {
	k := keyFile(t, "0123456789abcdef")
	base := "--realm r --key-file " + k + " --account a --callee c"
	tests := []struct {
		name    string
		args    string
		listen  string
		wantErr string
	}{
		{name: "defaults", args: base, listen: "127.0.0.1:3000"},
		{name: "listen", args: base + " --listen 127.0.0.1:0 --allowed-origin https://app.example.com", listen: "127.0.0.1:0"},
		{name: "bad listen", args: base + " --listen nowhere", wantErr: "invalid --listen"},
		{name: "bad origin", args: base + " --allowed-origin app.example.com", wantErr: "invalid --allowed-origin"},
		{name: "half TLS", args: base + " --tls-cert c.pem", wantErr: "go together"},
		{name: "no key", args: "--realm r --account a --callee c", wantErr: "key is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(nil)
			var got *ServeOptions
			err := cmdutil.ExecuteForTest(NewCmdServe(f, func(_ context.Context, o *ServeOptions) error { got = o; return nil }), tt.args)
			if tt.wantErr != "" {
				if !cmdutil.IsFlagErrorWith(err, tt.wantErr) {
					t.Fatalf("err = %v, want a FlagError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Listen != tt.listen || got.Caller != "sip:a" {
				t.Fatalf("err %v, options %+v", err, got)
			}
		})
	}
}

func TestRunServe(t *testing.T) {
	f, _, _ := cmdutil.TestFactory(nil)
	key := "0123456789abcdef0123456789abcdef"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := &ServeOptions{Factory: f, Listener: ln, AllowedOrigins: []string{"https://app.example.com"}}
	opts.Realm, opts.KeyFile, opts.Account, opts.Callee = "r", keyFile(t, key), "bob@x", "sip:alice@x"
	if err := opts.validate(f); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	opts.Ready = func(a string) { ready <- a }
	done := make(chan error, 1)
	go func() { done <- tokenServeRun(ctx, opts) }()
	base := "http://" + <-ready

	type answer struct {
		StatusCode int
		Header     http.Header
	}
	get := func(method, path, origin string) (answer, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), method, base+path, http.NoBody)
		if err != nil {
			t.Fatal(err)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header}, body
	}
	k, _ := token.ParseKey(key)
	ver := &token.Verifier{Realm: "r", Key: k, Now: f.Now}
	var ivs []string
	for range 2 {
		resp, body := get(http.MethodGet, "/callparameters", "https://app.example.com")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" ||
			resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Fatalf("GET: %d %v", resp.StatusCode, resp.Header)
		}
		p, err := token.ParseParams(body)
		if err != nil {
			t.Fatal(err)
		}
		if p.Caller != "sip:bob@x" || p.Callee != "sip:alice@x" {
			t.Errorf("params %+v", p)
		}
		if err := ver.CheckCall(token.Set{Realm: p.Realm, AccountToken: p.AccountToken, FromToken: p.FromToken, ToToken: p.ToToken}, p.Caller, p.Callee); err != nil {
			t.Errorf("served set does not verify: %v", err)
		}
		ivs = append(ivs, p.ToToken[64:80])
	}
	if ivs[0] == ivs[1] {
		t.Error("two requests got the same IV: sets are not fresh")
	}
	if resp, _ := get(http.MethodGet, "/callparameters", "https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS allowed an unlisted origin")
	}
	if resp, _ := get(http.MethodPost, "/callparameters", ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	if resp, _ := get(http.MethodOptions, "/callparameters", "https://app.example.com"); resp.StatusCode != http.StatusNoContent {
		t.Errorf("OPTIONS: %d", resp.StatusCode)
	}
	if resp, _ := get(http.MethodGet, "/other", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tokenServeRun: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tokenServeRun did not stop")
	}
}
