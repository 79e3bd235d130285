package chromium

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pageTimeout bounds each step in the browser: generous, the tests share
// two cores with the race detector.
const pageTimeout = 60 * time.Second

// Page is a page open in its own headless Chromium for a test that reads
// what it shows (a report). Any console error or warning, and any
// uncaught exception, fails the test when the page closes: a request the
// page's Content-Security-Policy refuses is one.
type Page struct {
	t       testing.TB
	ctx     context.Context
	cancel  func()
	watched chan struct{}

	mu       sync.Mutex
	problems []string
}

// Open starts Chromium with a viewport of width×height, loads url and
// waits for it to load. Cleanup closes the page (Close).
func Open(t testing.TB, url string, width, height int64) *Page {
	t.Helper()
	path, err := Find()
	if err != nil {
		t.Fatalf("%v (`make test` installs the Debian package chromium)", err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), Options(path, t.TempDir())...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	p := &Page{t: t, ctx: ctx, watched: make(chan struct{})}
	p.cancel = func() {
		cancelTab()
		cancelAlloc()
	}
	// The first run starts the browser and opens the tab: no timeout.
	if err := chromedp.Do(ctx); err != nil {
		p.cancel()
		t.Fatalf("starting Chromium: %v", err)
	}
	go func() {
		defer close(p.watched)
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				p.mu.Lock()
				p.problems = append(p.problems, m.String())
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(p.Close)
	step, stop := context.WithTimeout(ctx, pageTimeout)
	defer stop()
	if err := chromedp.Do(step, chromedp.EmulateViewport(width, height), chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	return p
}

// Int evaluates a JavaScript expression whose value is a number.
func (p *Page) Int(expr string) int {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, pageTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// Screenshot saves a PNG of the whole page in the test's artifact
// directory (kept with `go test -artifacts`), logs its path, and returns
// the image.
func (p *Page) Screenshot(name string) []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, pageTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(p.t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s (%d bytes)", path, len(png))
	return png
}

// Close closes the browser and fails the test with every console problem
// seen. It may be called more than once.
func (p *Page) Close() {
	p.cancel()
	<-p.watched
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.problems {
		p.t.Errorf("browser console: %s", pr)
	}
	p.problems = nil
}
