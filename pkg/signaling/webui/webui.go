// Package webui is the browser softphone page that "callstat serve" serves at
// "/": plain HTML and JavaScript embedded in the binary, no build step and
// nothing loaded from elsewhere. The page speaks only the signaling protocol
// of docs/protocol.md over the same origin's /ws, places and answers
// audio-only calls with the browser's own WebRTC stack, and keeps the last
// five calls' getStats() samples in the stats file format of
// docs/stats-file.md.
package webui

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// SDK is the "sdk" field of the SDK entry the page writes at the head of
// each sample; the entry's type is "callstat_web_sdk_info" and its id
// "callstat-web-sdk-info_<uuid>", following the seed's kandy-sdk-info_ /
// kandy_sdk_info pattern.
const SDK = "callstat-web"

// Config configures the page.
type Config struct {
	// Version is callstat's version: the SDK entry's "version" and the
	// "_sdk<version>_" part of the downloaded file's name.
	Version string
	// TokenURL is the default of the page's token URL field, where a
	// token-based call fetches its parameters (GET, JSON as the sample token
	// server's /callparameters). Empty means DefaultTokenURL.
	TokenURL string
}

// DefaultTokenURL is where "callstat token serve" listens by default.
const DefaultTokenURL = "http://127.0.0.1:3000/callparameters"

// contentSecurityPolicy keeps the page to its own scripts and styles. The
// token URL is configurable, so fetches may go to any http(s) origin; the
// signaling WebSocket is same-origin (ws: or wss:).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self' ws: wss: http: https:; media-src 'self' blob: mediastream:; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page: index.html at "/", its script and style sheet
// beside it, 404 for anything else. Mount it at "/" after the signaling
// server's own paths.
func Handler(cfg Config) (http.Handler, error) {
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultTokenURL
	}
	if cfg.Version == "" {
		cfg.Version = "unknown"
	}
	tmpl, err := template.ParseFS(static, "static/index.html")
	if err != nil {
		return nil, err
	}
	var index bytes.Buffer
	if err := tmpl.Execute(&index, cfg); err != nil {
		return nil, err
	}
	assets, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"/": index.Bytes()}
	types := map[string]string{"/": "text/html; charset=utf-8"}
	for _, name := range []string{"app.js", "style.css"} {
		b, err := fs.ReadFile(assets, name)
		if err != nil {
			return nil, err
		}
		files["/"+name] = b
		types["/"+name] = map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}[path.Ext(name)]
	}
	// The binary's start stands in for a modification time: the content
	// changes only with the binary.
	started := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/index.html" {
			p = "/"
		}
		body, ok := files[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", types[p])
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Always revalidate, so that a new callstat's page is never mixed
		// with an old cached script.
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, p, started, bytes.NewReader(body))
	}), nil
}
