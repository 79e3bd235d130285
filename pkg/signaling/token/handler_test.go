package token

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	key, err := ParseKey("0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.UnixMilli(1_700_000_000_000) }
	fail := false
	h := Handler(HandlerConfig{
		Mint: func() (Params, error) {
			if fail {
				return Params{}, errors.New("no entropy")
			}
			return Generate(key, Request{Realm: "r", Account: "bob@x", Caller: "sip:bob@x", Callee: "sip:alice@x", Now: now})
		},
		AllowOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "https://app.example.com" },
	})
	do := func(method, path, origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, http.NoBody)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	ver := &Verifier{Realm: "r", Key: key, Now: now}
	var ivs []string
	for range 2 {
		rec := do(http.MethodGet, ParamsPath, "https://app.example.com")
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" ||
			rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Fatalf("GET: %d %v", rec.Code, rec.Header())
		}
		p, err := ParseParams(rec.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if err := ver.CheckCall(Set{Realm: p.Realm, AccountToken: p.AccountToken, FromToken: p.FromToken, ToToken: p.ToToken}, p.Caller, p.Callee); err != nil {
			t.Errorf("served set does not verify: %v", err)
		}
		ivs = append(ivs, p.ToToken[64:80])
	}
	if ivs[0] == ivs[1] {
		t.Error("two requests got the same IV: sets are not fresh")
	}
	tests := []struct {
		name, method, path, origin string
		wantCode                   int
		wantCORS                   bool
	}{
		{"unlisted origin", http.MethodGet, ParamsPath, "https://evil.example", http.StatusOK, false},
		{"POST", http.MethodPost, ParamsPath, "", http.StatusMethodNotAllowed, false},
		{"preflight", http.MethodOptions, ParamsPath, "https://app.example.com", http.StatusNoContent, true},
		{"other path", http.MethodGet, "/other", "", http.StatusNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(tt.method, tt.path, tt.origin)
			if rec.Code != tt.wantCode || (rec.Header().Get("Access-Control-Allow-Origin") != "") != tt.wantCORS {
				t.Errorf("%s %s: %d %v", tt.method, tt.path, rec.Code, rec.Header())
			}
		})
	}
	fail = true
	rec := do(http.MethodGet, ParamsPath, "")
	if body, _ := io.ReadAll(rec.Body); rec.Code != http.StatusInternalServerError || !strings.Contains(string(body), "cannot mint tokens") {
		t.Errorf("failed mint: %d %q", rec.Code, body)
	}
}

// Without AllowOrigin no page from another origin may read the answer.
func TestHandlerWithoutCORS(t *testing.T) {
	h := Handler(HandlerConfig{Mint: func() (Params, error) { return Params{Realm: "r"}, nil }})
	req := httptest.NewRequest(http.MethodGet, ParamsPath, http.NoBody)
	req.Header.Set("Origin", "https://app.example.com")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET: %d %v", rec.Code, rec.Header())
	}
}
