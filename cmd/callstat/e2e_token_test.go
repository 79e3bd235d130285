package main

// End-to-end tests of token-based calls and TLS: the real binary as a token
// server, a signaling server that requires tokens, an answerer and callers.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	e2eRealm = "e2e-realm"
	e2eKey   = "e2e-secret-key-of-32-characters!" // 32 characters: CBC + HMAC
)

func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// mintFile runs "callstat token" and writes its output to a file.
func mintFile(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	stdout, stderr, code := run(t, 20*time.Second, append([]string{"token"}, args...)...)
	if code != 0 {
		t.Fatalf("callstat token exit %d: %s", code, stderr)
	}
	return writeTestFile(t, dir, name, stdout)
}

func TestEndToEndTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := writeTestFile(t, dir, "realm.key", e2eKey+"\n")
	ids := []string{"--account", "bob@example.com", "--callee", "sip:alice@example.com"}

	ts := start(t, "token serve", nil, append([]string{"token", "serve", "--listen", "127.0.0.1:0", "--realm", e2eRealm, "--key-file", keyFile}, ids...)...)
	tokenURL := ts.waitLog(10*time.Second, "token server listening", nil)["url"].(string)
	s := start(t, "serve", []string{"CALLSTAT_TOKEN_KEY=" + e2eKey}, "serve", "--listen", "127.0.0.1:0", "--realm", e2eRealm, "--token-ttl", "5m")
	s.waitLog(10*time.Second, "tokens required", map[string]any{"realm": e2eRealm})
	url := s.waitLog(10*time.Second, "signaling server listening", nil)["ws"].(string)

	// The answerer registers as the parameters' callee with its token.
	a := start(t, "answer", nil, "answer", "--token-url", tokenURL, "--server", url, "--store", filepath.Join(dir, "alice.db"), "--ice-loopback", "--audio", "tone")
	a.waitLog(10*time.Second, "registered", map[string]any{"participant": "sip:alice@example.com"})

	client := []string{"--server", url, "--ice-loopback", "--audio", "tone", "--duration", "1s"}
	t.Run("call with tokens from the token server", func(t *testing.T) {
		stdout, stderr, code := run(t, 30*time.Second, append([]string{"call", "--token-url", tokenURL, "--store", filepath.Join(dir, "bob.db")}, client...)...)
		if code != 0 {
			t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
		}
		calls := dumpFile(t, filepath.Join(dir, "bob.db"), "sip:bob@example.com")
		if len(calls) != 1 || calls[0].ID != strings.TrimSpace(stdout) {
			t.Fatalf("caller's ring %v, want the call %s", calls, stdout)
		}
	})

	good := mintFile(t, dir, "good.json", append([]string{"--realm", e2eRealm, "--key-file", keyFile}, ids...)...)
	t.Run("call with a token file, ids given explicitly", func(t *testing.T) {
		_, stderr, code := run(t, 30*time.Second, append([]string{"call", "sip:alice@example.com", "--from", "sip:bob@example.com",
			"--token-file", good, "--store", filepath.Join(dir, "bob2.db")}, client...)...)
		if code != 0 {
			t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
		}
	})

	var p map[string]string
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	variant := func(name string, change func(map[string]string)) string {
		q := map[string]string{}
		for k, v := range p {
			q[k] = v
		}
		change(q)
		b, _ := json.Marshal(q)
		return writeTestFile(t, dir, name, string(b))
	}
	flipped := func(s string) string {
		b := []byte(s)
		i := len(b) / 3
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	old := strconv.FormatInt(time.Now().Add(-time.Hour).UnixMilli(), 10)

	refusals := []struct {
		name     string
		args     []string
		wantText []string
	}{
		{"no tokens", []string{"sip:alice@example.com", "--from", "sip:bob@example.com"}, []string{"incomplete token set", "code call:7"}},
		{"tampered fromToken", []string{"--token-file", variant("tampered.json", func(q map[string]string) { q["fromToken"] = flipped(q["fromToken"]) })},
			[]string{"invalid token", "code 46"}},
		{"other realm", []string{"--token-file", mintFile(t, dir, "realm.json", append([]string{"--realm", "elsewhere", "--key-file", keyFile}, ids...)...)},
			[]string{"invalid realm", "code 64"}},
		{"expired tokens", []string{"--token-file", mintFile(t, dir, "old.json", append([]string{"--realm", e2eRealm, "--key-file", keyFile, "--timestamp", old}, ids...)...)},
			[]string{"token expired", "code 65"}},
		{"another caller than the token's", []string{"--token-file", good, "--from", "sip:eve@example.com"}, []string{"invalid token", "fromToken"}},
		{"token server unreachable", []string{"--token-url", "http://127.0.0.1:1/callparameters"}, []string{"cannot get token parameters"}},
	}
	for _, tt := range refusals {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			_, stderr, code := run(t, 30*time.Second, append(append([]string{"call"}, tt.args...), append(client, "--store", filepath.Join(dir, "refused.db"))...)...)
			if code != 9 {
				t.Fatalf("exit %d, want 9; stderr:\n%s", code, stderr)
			}
			for _, w := range tt.wantText {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}

	t.Run("refused/registration with another id's token", func(t *testing.T) {
		// Claims to be carol with alice's token.
		f := variant("carol.json", func(q map[string]string) { q["callee"] = "sip:carol@example.com" })
		_, stderr, code := run(t, 30*time.Second, "answer", "--token-file", f, "--server", url, "--store", filepath.Join(dir, "carol.db"), "--audio", "tone")
		if code != 9 || !strings.Contains(stderr, "registration refused") || !strings.Contains(stderr, "code 46") {
			t.Fatalf("exit %d, want 9 with the server's code 46; stderr:\n%s", code, stderr)
		}
	})
}

func TestEndToEndTLS(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed to make a test certificate; `make test` installs it")
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}

	s := start(t, "serve", nil, "serve", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	url := s.waitLog(10*time.Second, "signaling server listening", nil)["ws"].(string)
	if !strings.HasPrefix(url, "wss://") {
		t.Fatalf("server logged %s, want a wss:// URL", url)
	}
	a := start(t, "answer", nil, "answer", "--as", "alice@example.com", "--server", url, "--ca-file", cert,
		"--store", filepath.Join(dir, "alice.db"), "--ice-loopback", "--audio", "tone")
	a.waitLog(10*time.Second, "registered", nil)

	_, stderr, code := run(t, 30*time.Second, "call", "alice@example.com", "--from", "bob@example.com", "--server", url, "--ca-file", cert,
		"--store", filepath.Join(dir, "bob.db"), "--ice-loopback", "--audio", "tone", "--duration", "1s")
	if code != 0 {
		t.Fatalf("call over wss exit %d; stderr:\n%s", code, stderr)
	}
	// Without the CA the server's certificate is not trusted.
	_, stderr, code = run(t, 30*time.Second, "call", "alice@example.com", "--from", "bob@example.com", "--server", url,
		"--store", filepath.Join(dir, "bob.db"), "--ice-loopback", "--audio", "tone")
	if code != 3 || !strings.Contains(stderr, "certificate") {
		t.Fatalf("call without --ca-file exit %d, want 3 naming the certificate; stderr:\n%s", code, stderr)
	}
}
