package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// get serves one request and returns the status, headers and body.
func get(t *testing.T, h http.Handler, method, path string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	resp := rec.Result()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestHandlerServesThePage(t *testing.T) {
	h, err := Handler(Config{Version: "1.2.3", TokenURL: "http://127.0.0.1:3001/callparameters"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		status       int
		ctype        string
		contains     string
	}{
		{method: "GET", path: "/", status: 200, ctype: "text/html; charset=utf-8", contains: `<meta name="callstat-version" content="1.2.3">`},
		{method: "GET", path: "/index.html", status: 200, ctype: "text/html; charset=utf-8", contains: `value="http://127.0.0.1:3001/callparameters"`},
		{method: "GET", path: "/app.js", status: 200, ctype: "text/javascript; charset=utf-8", contains: `const SDK_ENTRY_TYPE = "callstat_web_sdk_info";`},
		{method: "GET", path: "/style.css", status: 200, ctype: "text/css; charset=utf-8", contains: ".messages"},
		{method: "HEAD", path: "/", status: 200, ctype: "text/html; charset=utf-8"},
		{method: "GET", path: "/static/app.js", status: 404},
		{method: "GET", path: "/../webui.go", status: 404},
		{method: "GET", path: "/favicon.ico", status: 404},
		{method: "POST", path: "/", status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			status, header, body := get(t, h, tt.method, tt.path)
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if got := header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			for _, hdr := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Cache-Control"} {
				if header.Get(hdr) == "" {
					t.Errorf("no %s header", hdr)
				}
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}
}

func TestHandlerDefaultsAndEscaping(t *testing.T) {
	h, err := Handler(Config{Version: `1.0"><script>x</script>`})
	if err != nil {
		t.Fatal(err)
	}
	_, _, body := get(t, h, "GET", "/")
	if strings.Contains(body, "<script>x</script>") {
		t.Errorf("version was not escaped:\n%s", body)
	}
	if !strings.Contains(body, `value="`+DefaultTokenURL+`"`) {
		t.Errorf("token URL field does not default to %s", DefaultTokenURL)
	}
	h, err = Handler(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, body := get(t, h, "GET", "/"); !strings.Contains(body, `content="unknown"`) {
		t.Errorf("empty version not shown as unknown")
	}
}

// The page must work on a host without Internet access: everything it
// loads comes from the same server.
func TestPageLoadsNothingFromElsewhere(t *testing.T) {
	h, err := Handler(Config{Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, html := get(t, h, "GET", "/")
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(html, -1)
	if len(refs) == 0 {
		t.Fatal("no src/href found: the check below would be empty")
	}
	for _, m := range refs {
		if m[1] == "data:," { // the empty favicon
			continue
		}
		if strings.Contains(m[1], ":") || strings.HasPrefix(m[1], "//") {
			t.Errorf("index.html loads %q from elsewhere", m[1])
		}
	}
	_, _, js := get(t, h, "GET", "/app.js")
	if regexp.MustCompile(`\bimport\b[^;]*["'](?:https?:)?//`).MatchString(js) {
		t.Errorf("app.js imports from another origin")
	}
}
