package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstat/callstat/pkg/signaling/token"
)

const paramsJSON = `{"realm":"r","accountToken":"a","fromToken":"f","toToken":"t","caller":"sip:bob@x","callee":"sip:alice@x"}`

func TestLoadTokenParams(t *testing.T) {
	want := token.Params{Realm: "r", AccountToken: "a", FromToken: "f", ToToken: "t", Caller: "sip:bob@x", Callee: "sip:alice@x"}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/callparameters":
			_, _ = w.Write([]byte(paramsJSON))
		case "/partial":
			_, _ = w.Write([]byte(`{"realm":"r"}`))
		case "/html":
			_, _ = w.Write([]byte(`<html>`))
		default:
			http.Error(w, "no such page", http.StatusNotFound)
		}
	}))
	defer hs.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/callparameters"
	_ = ln.Close()

	tests := []struct {
		name      string
		file, url string
		stdin     string
		wantErr   string
	}{
		{name: "file", file: writeFile(t, "p.json", paramsJSON)},
		{name: "stdin", file: "-", stdin: paramsJSON},
		{name: "url", url: hs.URL + "/callparameters"},
		{name: "missing file", file: "/nonexistent/p.json", wantErr: "/nonexistent/p.json"},
		{name: "not JSON", file: writeFile(t, "p.json", "realm=r"), wantErr: "not a token parameters object"},
		{name: "incomplete", file: writeFile(t, "p.json", `{"realm":"r","caller":"c"}`), wantErr: "missing accountToken, fromToken, toToken, callee"},
		{name: "HTTP 404", url: hs.URL + "/nope", wantErr: "HTTP 404"},
		{name: "HTML page", url: hs.URL + "/html", wantErr: "not a token parameters object"},
		{name: "partial answer", url: hs.URL + "/partial", wantErr: "missing"},
		{name: "nothing listening", url: closedURL, wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LoadTokenParams(context.Background(), TokenSource{File: tt.file, URL: tt.url, Stdin: strings.NewReader(tt.stdin)})
			if tt.wantErr != "" {
				if !errors.Is(err, ErrTokens) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrTokens containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || *p != want {
				t.Fatalf("LoadTokenParams = %+v, %v", p, err)
			}
		})
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A caller sends the call's token set; an answerer registers with the
// token minted for its id, and no other id may use the set.
func TestCredentials(t *testing.T) {
	p, err := LoadTokenParams(context.Background(), TokenSource{File: writeFile(t, "p.json", paramsJSON)})
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Identity: "sip:bob@x", Tokens: p}
	creds, tok, err := c.credentials()
	if err != nil || tok != "" || creds == nil || creds.Realm != "r" || creds.AccountToken != "a" || creds.FromToken != "f" || creds.ToToken != "t" {
		t.Errorf("caller credentials = %+v, %q, %v", creds, tok, err)
	}
	for id, want := range map[string]string{"sip:alice@x": "t", "alice@x": "t", "bob@x": "f"} {
		c := Config{Identity: id, Register: true, Tokens: p}
		if creds, tok, err := c.credentials(); err != nil || creds != nil || tok != want {
			t.Errorf("registering %s: %+v, %q, %v; want token %q", id, creds, tok, err, want)
		}
	}
	stranger := Config{Identity: "carol@x", Register: true, Tokens: p}
	if _, _, err := stranger.credentials(); !errors.Is(err, ErrTokens) || !strings.Contains(err.Error(), "not for carol@x") {
		t.Errorf("registering a stranger: %v", err)
	}
	if c, tok, err := (&Config{Identity: "x", Register: true}).credentials(); c != nil || tok != "" || err != nil {
		t.Errorf("without tokens: %+v %q %v", c, tok, err)
	}
}
