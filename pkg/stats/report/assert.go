package report

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrAssertionFailed means a call breached a quality assertion (--assert).
var ErrAssertionFailed = errors.New("quality assertion breached")

// AssertGrammar documents what ParseAssertions accepts.
const AssertGrammar = `assertions := assertion { "," assertion }
assertion  := metric [ "." statistic ] operator number [ unit ]
operator   := "<=" | "<" | ">=" | ">"
metric     statistics (default first)   unit
mos        min, mean                    none (1 to 5)
loss       -                            % (optional): inbound loss over the call
rtt        p95, p50                     ms (default) or s
jitter     p95, p50                     ms (default) or s
setup      -                            ms (default) or s: start to Connected`

// metric describes one assertable figure of a CallSummary.
type metric struct {
	stats []string // the first is the default
	unit  string   // "ms", "%" or "" (a plain number)
	lo    float64  // smallest limit that makes sense
	hi    float64  // largest (0: none)
	value func(s CallSummary, stat string) *float64
}

var metrics = map[string]metric{
	"mos": {stats: []string{"min", "mean"}, lo: 1, hi: 5, value: func(s CallSummary, stat string) *float64 {
		if stat == "mean" {
			return s.MOSMean
		}
		return s.MOSMin
	}},
	"loss": {unit: "%", hi: 100, value: func(s CallSummary, _ string) *float64 { return s.LossPercent }},
	"rtt": {stats: []string{"p95", "p50"}, unit: "ms", value: func(s CallSummary, stat string) *float64 {
		if stat == "p50" {
			return s.RTTP50Ms
		}
		return s.RTTP95Ms
	}},
	"jitter": {stats: []string{"p95", "p50"}, unit: "ms", value: func(s CallSummary, stat string) *float64 {
		if stat == "p50" {
			return s.JitterP50Ms
		}
		return s.JitterP95Ms
	}},
	"setup": {unit: "ms", value: func(s CallSummary, _ string) *float64 { return s.SetupMs }},
}

// Assertion is one parsed condition, e.g. rtt.p95<=150ms.
type Assertion struct {
	Metric string  // mos, loss, rtt, jitter, setup
	Stat   string  // min, mean, p50, p95; "" for loss and setup
	Op     string  // <=, <, >=, >
	Limit  float64 // in the metric's unit: ms, %, or MOS points
	Text   string  // as written, trimmed
}

// Assertions is a parsed --assert value.
type Assertions []Assertion

// AssertSyntaxError points at what is wrong in an --assert value.
type AssertSyntaxError struct {
	Expr   string
	Column int // 1-based, in characters
	Msg    string
}

func (e *AssertSyntaxError) Error() string {
	return fmt.Sprintf("invalid --assert at column %d: %s\n  %s\n  %s^", e.Column, e.Msg, e.Expr, strings.Repeat(" ", e.Column-1))
}

// ParseAssertions parses a comma-separated list of assertions such as
// "mos>=4.0,loss<=1%,rtt<=150ms,jitter<=30ms" (AssertGrammar). An empty
// string means no assertion. Errors are *AssertSyntaxError.
func ParseAssertions(expr string) (Assertions, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	p := &assertParser{expr: expr}
	var out Assertions
	for {
		a, err := p.assertion()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
		p.spaces()
		if p.pos == len(expr) {
			return out, nil
		}
		if expr[p.pos] != ',' {
			return nil, p.errorf(p.pos, "unexpected %q after %q: separate assertions with a comma", p.rest(), a.Text)
		}
		p.pos++
	}
}

type assertParser struct {
	expr string
	pos  int // byte offset
}

func (p *assertParser) errorf(at int, format string, args ...any) error {
	return &AssertSyntaxError{Expr: p.expr, Column: utf8.RuneCountInString(p.expr[:at]) + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *assertParser) rest() string {
	end := p.pos
	for end < len(p.expr) && p.expr[end] != ',' {
		end++
	}
	return p.expr[p.pos:end]
}

func (p *assertParser) spaces() {
	for p.pos < len(p.expr) && (p.expr[p.pos] == ' ' || p.expr[p.pos] == '\t') {
		p.pos++
	}
}

// word scans letters and digits.
func (p *assertParser) word() string {
	start := p.pos
	for p.pos < len(p.expr) {
		c := p.expr[p.pos]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		digit := c >= '0' && c <= '9' && p.pos > start // "p95", not "95"
		if !letter && !digit {
			break
		}
		p.pos++
	}
	return strings.ToLower(p.expr[start:p.pos])
}

func (p *assertParser) assertion() (Assertion, error) {
	p.spaces()
	start := p.pos
	if p.pos == len(p.expr) || p.expr[p.pos] == ',' {
		return Assertion{}, p.errorf(p.pos, "empty assertion: want e.g. mos>=4.0")
	}
	var a Assertion
	a.Metric = p.word()
	m, ok := metrics[a.Metric]
	if !ok {
		if a.Metric == "" {
			return a, p.errorf(start, "want a metric: mos, loss, rtt, jitter or setup")
		}
		return a, p.errorf(start, "unknown metric %q: use mos, loss, rtt, jitter or setup", a.Metric)
	}
	if p.pos < len(p.expr) && p.expr[p.pos] == '.' {
		p.pos++
		at := p.pos
		a.Stat = p.word()
		if !contains(m.stats, a.Stat) {
			if len(m.stats) == 0 {
				return a, p.errorf(at-1, "%s takes no statistic", a.Metric)
			}
			return a, p.errorf(at, "unknown statistic %q for %s: use %s", a.Stat, a.Metric, strings.Join(m.stats, " or "))
		}
	} else if len(m.stats) > 0 {
		a.Stat = m.stats[0]
	}
	p.spaces()
	opAt := p.pos
	for _, op := range []string{"<=", ">=", "<", ">"} {
		if strings.HasPrefix(p.expr[p.pos:], op) {
			a.Op = op
			p.pos += len(op)
			break
		}
	}
	if a.Op == "" {
		return a, p.errorf(opAt, "want an operator (<=, <, >= or >) after %s", a.Metric)
	}
	p.spaces()
	numAt := p.pos
	for p.pos < len(p.expr) && (p.expr[p.pos] >= '0' && p.expr[p.pos] <= '9' || p.expr[p.pos] == '.') {
		p.pos++
	}
	limit, err := strconv.ParseFloat(p.expr[numAt:p.pos], 64)
	if err != nil {
		return a, p.errorf(numAt, "want a number after %s%s", a.Metric, a.Op)
	}
	p.spaces()
	unitAt := p.pos
	var unit string
	if p.pos < len(p.expr) && p.expr[p.pos] == '%' {
		unit = "%"
		p.pos++
	} else {
		unit = p.word()
	}
	switch {
	case unit == "":
	case m.unit == "ms" && unit == "ms":
	case m.unit == "ms" && unit == "s":
		limit *= 1000
	case m.unit == "%" && unit == "%":
	default:
		want := "no unit"
		switch m.unit {
		case "ms":
			want = "ms or s"
		case "%":
			want = "% or no unit"
		}
		return a, p.errorf(unitAt, "unit %q does not fit %s: use %s", unit, a.Metric, want)
	}
	if limit < m.lo || m.hi > 0 && limit > m.hi {
		return a, p.errorf(numAt, "%s limit %g is out of range [%g, %g]", a.Metric, limit, m.lo, m.hi)
	}
	a.Limit = limit
	a.Text = strings.TrimSpace(p.expr[start:p.pos])
	return a, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Name is the metric with its statistic, e.g. "rtt p95".
func (a Assertion) Name() string {
	if a.Stat == "" {
		return a.Metric
	}
	return a.Metric + " " + a.Stat
}

// format writes a measured value in the metric's unit.
func (a Assertion) format(v float64) string { return a.formatExact(v, false) }

// formatExact writes v in the metric's unit; exact keeps every digit that
// the fixed precision would drop (a limit of 0.01 ms is not "0.0 ms").
func (a Assertion) formatExact(v float64, exact bool) string {
	prec, unit := 2, ""
	switch metrics[a.Metric].unit {
	case "ms":
		prec, unit = 1, " ms"
	case "%":
		unit = " %"
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if f, err := strconv.ParseFloat(s, 64); exact && (err != nil || f != v) {
		s = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return s + unit
}

// holds reports whether v satisfies the assertion.
func (a Assertion) holds(v float64) bool {
	switch a.Op {
	case "<=":
		return v <= a.Limit
	case "<":
		return v < a.Limit
	case ">=":
		return v >= a.Limit
	default:
		return v > a.Limit
	}
}

// Breach is an assertion a call did not meet.
type Breach struct {
	CallID    string // "" for a load run's aggregate
	Assertion Assertion
	Measured  *float64 // nil: the figure was never measured
}

// String names the call, the metric, the measured value and the limit.
func (b Breach) String() string {
	a := b.Assertion
	limit := a.Op + " " + a.formatExact(a.Limit, true)
	subject := "call " + b.CallID
	if b.CallID == "" { // a load run's aggregate (LoadSummary.AsCallSummary)
		subject = "all calls"
	}
	if b.Measured == nil {
		return fmt.Sprintf("%s: %s was never measured, limit %s (%s)", subject, a.Name(), limit, a.Text)
	}
	return fmt.Sprintf("%s: %s is %s, limit %s (%s)", subject, a.Name(), a.format(*b.Measured), limit, a.Text)
}

// Check returns the assertions s breaches, in the order they were
// written. A figure that was never measured breaches: a gate must not
// pass on missing data.
func (as Assertions) Check(s CallSummary) []Breach {
	var out []Breach
	for _, a := range as {
		v := metrics[a.Metric].value(s, a.Stat)
		if v == nil || !a.holds(*v) {
			out = append(out, Breach{CallID: s.CallID, Assertion: a, Measured: v})
		}
	}
	return out
}
