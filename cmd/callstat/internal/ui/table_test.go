package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/stats/report"
)

func ptr(v float64) *float64 { return &v }

func testNow() time.Time { return time.UnixMilli(1700000000123) }

func TestWriteSummariesAndBreaches(t *testing.T) {
	row := report.CallSummary{CallID: "c1", Participant: "bob", Start: time.UnixMilli(1_700_000_000_000), SetupMs: ptr(12), DurationMs: ptr(3000), EndState: "Ended", StatusCode: 200, Reason: "bye", Samples: 3,
		MediaFigures: report.MediaFigures{PacketsSent: 150, PacketsReceived: 149, LossPercent: ptr(0.5),
			RTTP50Ms: ptr(20), RTTP95Ms: ptr(30), MOSMin: ptr(4.1), MOSMean: ptr(4.3)}}
	as, err := report.ParseAssertions("mos>=4.2,rtt<=100ms")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		json  bool
		quiet bool
		check func(t *testing.T, stderr string)
	}{
		{"text: the table, then the breach line", false, false, func(t *testing.T, stderr string) {
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "CALL") || !strings.HasPrefix(lines[1], "c1 ") ||
				!strings.Contains(lines[1], "0.50%") || !strings.Contains(lines[1], "  -  ") ||
				lines[2] != "assertion failed: call c1: mos min is 4.10, limit >= 4.20 (mos>=4.2)" {
				t.Errorf("stderr:\n%s", stderr)
			}
		}},
		{"json: every line a JSON object", true, false, func(t *testing.T, stderr string) {
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 2 {
				t.Fatalf("stderr:\n%s", stderr)
			}
			var sum, breach map[string]any
			if json.Unmarshal([]byte(lines[0]), &sum) != nil || json.Unmarshal([]byte(lines[1]), &breach) != nil {
				t.Fatalf("not JSON:\n%s", stderr)
			}
			if s, _ := sum["summary"].(map[string]any); sum["msg"] != "call summary" || sum["level"] != "INFO" || s["callId"] != "c1" || s["jitterP50Ms"] != nil {
				t.Errorf("summary line %v", sum)
			}
			if breach["level"] != "ERROR" || breach["metric"] != "mos min" || breach["limit"] != 4.2 || breach["measured"] != 4.1 ||
				breach["call"] != "c1" || !strings.HasPrefix(breach["msg"].(string), "assertion failed: call c1") {
				t.Errorf("breach line %v", breach)
			}
		}},
		{"quiet: no summary, the breach still", false, true, func(t *testing.T, stderr string) {
			if strings.TrimSpace(stderr) != "assertion failed: call c1: mos min is 4.10, limit >= 4.20 (mos>=4.2)" {
				t.Errorf("stderr:\n%s", stderr)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errOut bytes.Buffer
			o := &Output{W: &errOut, JSON: tt.json, Quiet: tt.quiet, Now: testNow}
			if err := o.Summaries([]report.CallSummary{row}); err != nil {
				t.Fatal(err)
			}
			err := o.CheckAssertions(as, []report.CallSummary{row})
			if !errors.Is(err, report.ErrAssertionFailed) {
				t.Errorf("err = %v", err)
			}
			tt.check(t, errOut.String())
		})
	}
	var errOut bytes.Buffer
	if err := (&Output{W: &errOut, Now: testNow}).CheckAssertions(as, []report.CallSummary{{CallID: "ok",
		MediaFigures: report.MediaFigures{MOSMin: ptr(4.4), RTTP95Ms: ptr(10)}}}); err != nil || errOut.Len() != 0 {
		t.Errorf("a call that meets the gate: err %v, stderr %q", err, errOut.String())
	}
}
