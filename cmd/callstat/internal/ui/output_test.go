package ui

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/app/load"
	"github.com/callstat/callstat/pkg/stats/report"
)

func TestLoadReport(t *testing.T) {
	rep := load.Report{
		LoadSummary: report.LoadSummary{Placed: 10, Connected: 9, Failed: 1, SetupP50Ms: ptr(12), SetupP95Ms: ptr(40), SetupP99Ms: ptr(55), SetupMaxMs: ptr(60),
			PacketsExpected: 1000, SentPercent: ptr(99.5), ReceivedPercent: ptr(99),
			MediaFigures: report.MediaFigures{PacketsSent: 995, PacketsReceived: 990, PacketsLost: 10, LossPercent: ptr(1)}},
		Calls: 10, Concurrency: 5, Ramp: 2, Elapsed: 20 * time.Second, CPU: 5 * time.Second, PeakRSSBytes: 64 << 20,
		Failures: []load.FailureGroup{{Count: 1, StatusCode: 486, Reason: "Busy Here"}},
	}
	tests := []struct {
		name  string
		json  bool
		quiet bool
		check func(t *testing.T, stderr string)
	}{
		{"text", false, false, func(t *testing.T, stderr string) {
			for _, want := range []string{
				"load: 10 of 10 calls placed, 9 connected, 1 failed, in 20s (concurrency 5, ramp 2/s)\n",
				"  setup     p50 12.0 ms  p95 40.0 ms  p99 55.0 ms  max 60.0 ms\n",
				"  received  990 packets, 99.00 % of the 1000 of real time; lost 10 (1.000 %)\n",
				"  jitter    p50 -  p95 -\n",
				"  process   cpu 5.0 s (25 % of one core), peak rss 64.0 MiB\n",
				"  failed    1 × 486 Busy Here\n",
			} {
				if !strings.Contains(stderr, want) {
					t.Errorf("lacks %q:\n%s", want, stderr)
				}
			}
		}},
		{"json", true, false, func(t *testing.T, stderr string) {
			var line struct {
				Msg     string         `json:"msg"`
				Level   string         `json:"level"`
				Summary map[string]any `json:"summary"`
			}
			if err := json.Unmarshal([]byte(stderr), &line); err != nil || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("not one JSON line (%v):\n%s", err, stderr)
			}
			s := line.Summary
			if line.Msg != "load summary" || line.Level != "INFO" || s["placed"] != 10.0 || s["elapsedMs"] != 20000.0 ||
				s["cpuPercentOfOneCore"] != 25.0 || s["rampPerSecond"] != 2.0 || s["failures"] == nil {
				t.Errorf("line %+v", line)
			}
		}},
		{"quiet", false, true, func(t *testing.T, stderr string) {
			if stderr != "" {
				t.Errorf("quiet wrote %q", stderr)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			o := &Output{W: &b, JSON: tt.json, Quiet: tt.quiet, Now: testNow}
			if err := o.LoadReport(rep); err != nil {
				t.Fatal(err)
			}
			tt.check(t, b.String())
		})
	}
}
