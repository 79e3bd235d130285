package report_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/callstat/callstat/pkg/stats/report"
)

func TestParseAssertions(t *testing.T) {
	tests := []struct {
		expr string
		want report.Assertions
	}{
		{"", nil},
		{"  ", nil},
		{"mos>=4.0,loss<=1%,rtt<=150ms,jitter<=30ms", report.Assertions{
			{Metric: "mos", Stat: "min", Op: ">=", Limit: 4, Text: "mos>=4.0"},
			{Metric: "loss", Op: "<=", Limit: 1, Text: "loss<=1%"},
			{Metric: "rtt", Stat: "p95", Op: "<=", Limit: 150, Text: "rtt<=150ms"},
			{Metric: "jitter", Stat: "p95", Op: "<=", Limit: 30, Text: "jitter<=30ms"},
		}},
		{" mos.mean > 3.5 , rtt.p50 < 0.2s ,setup<=2s, loss<2", report.Assertions{
			{Metric: "mos", Stat: "mean", Op: ">", Limit: 3.5, Text: "mos.mean > 3.5"},
			{Metric: "rtt", Stat: "p50", Op: "<", Limit: 200, Text: "rtt.p50 < 0.2s"},
			{Metric: "setup", Op: "<=", Limit: 2000, Text: "setup<=2s"},
			{Metric: "loss", Op: "<", Limit: 2, Text: "loss<2"},
		}},
		{"RTT<=100", report.Assertions{{Metric: "rtt", Stat: "p95", Op: "<=", Limit: 100, Text: "RTT<=100"}}},
		{"jitter.p50>=0", report.Assertions{{Metric: "jitter", Stat: "p50", Op: ">=", Limit: 0, Text: "jitter.p50>=0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := report.ParseAssertions(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseAssertionsErrors(t *testing.T) {
	tests := []struct {
		expr    string
		column  int
		message string
	}{
		{"mso>=4.0", 1, `unknown metric "mso"`},
		{"mos>=4.0,loss<=1x", 17, `unit "x" does not fit loss`},
		{"mos>=4.0,,rtt<=1", 10, "empty assertion"},
		{"mos>=4.0,", 10, "empty assertion"},
		{"mos=4", 4, "want an operator"},
		{"mos>=", 6, "want a number"},
		{"rtt<=-5ms", 6, "want a number"},
		{"rtt<=1.2.3", 6, "want a number"},
		{"rtt.p99<=100", 5, `unknown statistic "p99" for rtt: use p95 or p50`},
		{"loss.p95<=1", 5, "loss takes no statistic"},
		{"mos>=4.0ms", 9, `unit "ms" does not fit mos: use no unit`},
		{"rtt<=150%", 9, `unit "%" does not fit rtt: use ms or s`},
		{"mos>=7", 6, "mos limit 7 is out of range [1, 5]"},
		{"loss<=150%", 7, "out of range [0, 100]"},
		{"rtt<=150ms jitter<=30", 12, `unexpected "jitter<=30" after "rtt<=150ms": separate assertions with a comma`},
		{"<=3", 1, "want a metric"},
		{"réseau<=3", 1, `unknown metric "r"`},
		{"mos>=4,ràtt<=3", 8, "unknown metric \"r\""},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := report.ParseAssertions(tt.expr)
			var se *report.AssertSyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want an AssertSyntaxError", err)
			}
			if se.Column != tt.column || !strings.Contains(se.Msg, tt.message) {
				t.Errorf("column %d %q, want column %d %q", se.Column, se.Msg, tt.column, tt.message)
			}
			// The message points at the column under the expression.
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != 3 || lines[1] != "  "+tt.expr || lines[2] != "  "+strings.Repeat(" ", tt.column-1)+"^" {
				t.Errorf("error text does not point at column %d:\n%s", tt.column, err)
			}
		})
	}
}

func TestAssertionsCheck(t *testing.T) {
	good := report.CallSummary{CallID: "c1", SetupMs: f(900),
		MediaFigures: report.MediaFigures{LossPercent: f(0.5), RTTP95Ms: f(120), RTTP50Ms: f(100),
			JitterP95Ms: f(12), JitterP50Ms: f(5), MOSMin: f(4.1), MOSMean: f(4.3)}}
	as, err := report.ParseAssertions("mos>=4.0,loss<=1%,rtt<=150ms,jitter<=30ms,setup<2s")
	if err != nil {
		t.Fatal(err)
	}
	if b := as.Check(good); len(b) != 0 {
		t.Errorf("a good call breached %v", b)
	}
	bad := good
	bad.RTTP95Ms, bad.LossPercent, bad.MOSMin = f(212.34), f(5), nil
	got := as.Check(bad)
	var lines []string
	for _, b := range got {
		lines = append(lines, b.String())
	}
	want := []string{
		"call c1: mos min was never measured, limit >= 4.00 (mos>=4.0)",
		"call c1: loss is 5.00 %, limit <= 1.00 % (loss<=1%)",
		"call c1: rtt p95 is 212.3 ms, limit <= 150.0 ms (rtt<=150ms)",
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("breaches:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// A limit finer than the unit's usual precision is printed whole.
	fine, err := report.ParseAssertions("setup<0.01ms,loss<=0.125%")
	if err != nil {
		t.Fatal(err)
	}
	lines = nil
	for _, b := range fine.Check(good) {
		lines = append(lines, b.String())
	}
	want = []string{
		"call c1: setup is 900.0 ms, limit < 0.01 ms (setup<0.01ms)",
		"call c1: loss is 0.50 %, limit <= 0.125 % (loss<=0.125%)",
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("breaches:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	edges := []struct {
		expr  string
		value float64
		holds bool
	}{
		{"rtt<=150", 150, true}, {"rtt<150", 150, false}, {"mos>=4", 4, true}, {"mos>4", 4, false},
	}
	for _, e := range edges {
		as, _ := report.ParseAssertions(e.expr)
		s := report.CallSummary{MediaFigures: report.MediaFigures{RTTP95Ms: f(e.value), MOSMin: f(e.value)}}
		if held := len(as.Check(s)) == 0; held != e.holds {
			t.Errorf("%s at %v: held = %v", e.expr, e.value, held)
		}
	}
}
