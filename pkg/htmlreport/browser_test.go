package htmlreport

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/callstat/callstat/internal/testkit/chromium"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/store"
)

// browserTimeout bounds each step in the browser: generous, the tests
// share two cores with the race detector.
const browserTimeout = 60 * time.Second

// Shot is what RenderInChromium found on the page.
type Shot struct {
	Plots, Series, NoData, Rows int
	// Drawn counts the series paths that have a box on screen.
	Drawn int
	// Resources counts the requests the page made besides itself.
	Resources int
	PNG       []byte
}

// renderInChromium opens the report file in Debian's headless Chromium,
// fails the test on any console error or uncaught exception (a refused
// request breaks the page's Content-Security-Policy and is one), and
// returns what the page shows and a screenshot of all of it.
func renderInChromium(t *testing.T, file string) Shot {
	t.Helper()
	path, err := chromium.Find()
	if err != nil {
		t.Fatalf("%v (`make test` installs the Debian package chromium)", err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromium.Options(path, t.TempDir())...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first run starts the browser and opens the tab: no timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	var mu sync.Mutex
	var problems []string
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	step, stop := context.WithTimeout(ctx, browserTimeout)
	defer stop()
	if err := chromedp.Do(step, chromedp.EmulateViewport(1400, 900), chromedp.Navigate("file://"+file)); err != nil {
		t.Fatalf("loading the report: %v", err)
	}
	count := func(expr string) int {
		t.Helper()
		v, err := chromedp.Run(step, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("evaluating %s: %v", expr, err)
		}
		return v
	}
	var s Shot
	s.Plots = count(`document.querySelectorAll("svg.plot").length`)
	s.Series = count(`document.querySelectorAll("svg.plot path.series").length`)
	s.NoData = count(`document.querySelectorAll("svg.plot .nodata").length`)
	s.Rows = count(`document.querySelectorAll("table.calls tbody tr").length`)
	s.Drawn = count(`[...document.querySelectorAll("svg.plot path.series")].filter((p) => {
		const r = p.getBoundingClientRect();
		return r.width > 0 && p.getTotalLength() > 0;
	}).length`)
	s.Resources = count(`performance.getEntriesByType("resource").length`)
	png, err := chromedp.Run(step, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	s.PNG = png
	cancel()
	<-watched
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser console: %s", p)
	}
	return s
}

// saveScreenshot keeps a screenshot in the test's artifact directory (kept
// with go test -artifacts) and logs where.
func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// The report renders in Chromium without a console error or a request:
// every plot is drawn, a call that never connected says it has no data,
// and the table has a row per call.
func TestReportInChromium(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "calls.db")
	fillStore(t, db, "bob@example.com", 600, 90)
	// A call that was never answered: no samples, a 480.
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	failed := "00000000-0000-4000-8000-0000000000ff"
	_, err = st.Write(context.Background(), stats.Batch{
		Begins: []stats.CallRecord{{CallID: failed, Participant: "bob@example.com", Direction: "outgoing", Peer: "alice@example.com", StartedAt: t0}},
		Ends: []stats.EndRecord{{CallID: failed, Participant: "bob@example.com", EndedAt: t0.Add(time.Second), State: "Ended",
			StatusCode: 480, Reason: "callee disconnected", Error: "the other party vanished"}},
	})
	_ = st.Close()
	if err != nil {
		t.Fatal(err)
	}

	page, _ := writeReport(t, db, Config{Version: "test"})
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	s := renderInChromium(t, file)
	saveScreenshot(t, "report.png", s.PNG)

	calls := 3
	want := Shot{Plots: calls * int(numMetrics), Series: 2 * 2 * int(numMetrics), NoData: 2 * int(numMetrics), Rows: calls}
	want.Drawn = want.Series
	if s.Plots != want.Plots || s.Series != want.Series || s.NoData != want.NoData || s.Rows != want.Rows || s.Drawn != want.Drawn {
		t.Errorf("page shows %d plots, %d series (%d drawn), %d without data, %d table rows; want %d, %d (%d), %d, %d",
			s.Plots, s.Series, s.Drawn, s.NoData, s.Rows, want.Plots, want.Series, want.Drawn, want.NoData, want.Rows)
	}
	if s.Resources != 0 {
		t.Errorf("the page requested %d resources, want none", s.Resources)
	}
	if !strings.HasPrefix(string(s.PNG), "\x89PNG") {
		t.Errorf("screenshot is not a PNG: % x", s.PNG[:min(8, len(s.PNG))])
	}
}
