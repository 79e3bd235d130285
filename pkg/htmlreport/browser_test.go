package htmlreport

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/chromium"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/store"
)

// The report renders in Chromium without a console error or a request:
// every plot is drawn, a call that never connected says it has no data,
// and the table has a row per call. A screenshot is kept.
func TestReportInChromium(t *testing.T) {
	t.Parallel()
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
	p := chromium.Open(t, "file://"+file, 1400, 900)
	calls := 3
	for _, tt := range []struct {
		what, expr string
		want       int
	}{
		{"plots", `document.querySelectorAll("svg.plot").length`, calls * int(numMetrics)},
		{"series", `document.querySelectorAll("svg.plot path.series").length`, 2 * 2 * int(numMetrics)},
		{"series drawn", `[...document.querySelectorAll("svg.plot path.series")].filter((p) =>
			p.getBoundingClientRect().width > 0 && p.getTotalLength() > 0).length`, 2 * 2 * int(numMetrics)},
		{"no-data notes", `document.querySelectorAll("svg.plot .nodata").length`, 2 * int(numMetrics)},
		{"table rows", `document.querySelectorAll("table.calls tbody tr").length`, calls},
		{"failed rows", `document.querySelectorAll("table.calls tr.failed").length`, 1},
		{"requests", `performance.getEntriesByType("resource").length`, 0},
	} {
		if got := p.Int(tt.expr); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.what, got, tt.want)
		}
	}
	if png := p.Screenshot("report.png"); !strings.HasPrefix(string(png), "\x89PNG") {
		t.Errorf("screenshot is not a PNG")
	}
}
