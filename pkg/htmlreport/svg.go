package htmlreport

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Plot geometry, in the SVG's own units (one unit is one pixel at the
// natural size). Columns is also how many pixel columns a series is
// reduced to.
const (
	Columns    = 600
	plotHeight = 120
	marginLeft = 52
	marginTop  = 8
	marginBot  = 22
	marginRght = 10
	svgWidth   = marginLeft + Columns + marginRght
	svgHeight  = marginTop + plotHeight + marginBot
)

// colors of the two directions.
var colors = [2]string{Inbound: "#1f6fb4", Outbound: "#e0690b"}

// point is a point of a reduced series: x a pixel column, v the value.
type point struct {
	x int
	v float64
}

// envelope reduces a series to at most two points per pixel column: the
// smallest and the largest value that fell in the column, in the order
// they came. Taking every n-th sample instead would drop a one-second
// spike from an hour-long call; the envelope keeps it, however long the
// call. span is the time the columns cover (seconds from the start).
func envelope(s series, span float64, columns int) []point {
	if len(s.t) == 0 {
		return nil
	}
	if span <= 0 {
		span = 1
	}
	type col struct {
		min, max     float64
		minAt, maxAt int // sample index, to keep the order
		used         bool
	}
	cols := make([]col, columns)
	for i, t := range s.t {
		x := int(t / span * float64(columns-1))
		x = min(max(x, 0), columns-1)
		v := s.v[i]
		c := &cols[x]
		switch {
		case !c.used:
			*c = col{min: v, max: v, minAt: i, maxAt: i, used: true}
		case v < c.min:
			c.min, c.minAt = v, i
		case v > c.max:
			c.max, c.maxAt = v, i
		}
	}
	out := make([]point, 0, 2*columns)
	for x, c := range cols {
		switch {
		case !c.used:
		case c.minAt == c.maxAt:
			out = append(out, point{x, c.min})
		case c.minAt < c.maxAt:
			out = append(out, point{x, c.min}, point{x, c.max})
		default:
			out = append(out, point{x, c.max}, point{x, c.min})
		}
	}
	return out
}

// scale maps values to the plot's height.
type scale struct{ lo, hi float64 }

// y is the pixel row of v, from the top of the plot area, clamped.
func (s scale) y(v float64) int {
	f := (v - s.lo) / (s.hi - s.lo)
	f = min(max(f, 0), 1)
	return int(math.Round(float64(plotHeight) * (1 - f)))
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// scaleFor is the metric's scale for the data of both directions.
func scaleFor(m metricInfo, lines [2][]point) scale {
	if m.hi > m.lo {
		return scale{m.lo, m.hi}
	}
	top := m.minTop
	for _, l := range lines {
		for _, p := range l {
			top = math.Max(top, p.v)
		}
	}
	return scale{m.lo, niceCeil(top)}
}

// pathData draws points as an SVG path: an absolute start, then relative
// steps in whole units, the shortest text that draws the same pixels (it
// is most of the report's size). A single point is drawn as a dot.
func pathData(points []point, sc scale) string {
	if len(points) == 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(len(points) * 8)
	x, y := points[0].x, sc.y(points[0].v)
	fmt.Fprintf(&b, "M%d %dl", marginLeft+x, marginTop+y)
	if len(points) == 1 {
		b.WriteString("0 0")
		return b.String()
	}
	for i, p := range points[1:] {
		ny := sc.y(p.v)
		if i > 0 && p.x-x >= 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(p.x - x))
		if ny-y >= 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(ny - y))
		x, y = p.x, ny
	}
	return b.String()
}

// formatTick writes a time axis tick: seconds with a decimal for calls
// under a minute (whose quarters would otherwise repeat a second), else
// formatClock.
func formatTick(s, span float64) string {
	if span < 60 {
		return strconv.FormatFloat(s, 'f', 1, 64) + "s"
	}
	return formatClock(s)
}

// formatClock writes seconds as m:ss, or h:mm:ss from an hour.
func formatClock(s float64) string {
	n := int(math.Round(s))
	if n >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", n/3600, n/60%60, n%60)
	}
	return fmt.Sprintf("%d:%02d", n/60, n%60)
}

// plotSVG draws one metric of a call: a frame with the scale's ticks and
// the time axis, and a line per direction (a note where one has no data).
// span is the call's length in seconds.
func plotSVG(m Metric, lines *[2]series, span float64) string {
	info := metrics[m]
	var reduced [2][]point
	for d := range lines {
		reduced[d] = envelope(lines[d], span, Columns)
	}
	sc := scaleFor(info, reduced)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="plot" data-metric="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		info.key, svgWidth, svgHeight, svgWidth, svgHeight, html.EscapeString(info.title))
	// The frame and the value ticks: bottom, middle, top.
	fmt.Fprintf(&b, `<rect class="frame" x="%d" y="%d" width="%d" height="%d"/>`, marginLeft, marginTop, Columns, plotHeight)
	for _, f := range []float64{0, 0.5, 1} {
		v := sc.lo + f*(sc.hi-sc.lo)
		y := marginTop + sc.y(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%d" y2="%d"/>`, marginLeft, marginLeft+Columns, y, y)
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%d" text-anchor="end">%s</text>`, marginLeft-4, y+4,
			strconv.FormatFloat(v, 'f', info.digits, 64))
	}
	// The time ticks: every quarter of the call.
	for i := 0; i <= 4; i++ {
		x := marginLeft + i*(Columns-1)/4
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%d" text-anchor="%s">%s</text>`, x, svgHeight-6, anchor,
			formatTick(span*float64(i)/4, span))
	}
	empty := 0
	for d, pts := range reduced {
		if len(pts) == 0 {
			fmt.Fprintf(&b, `<text class="nodata" x="%d" y="%d">no %s data</text>`, marginLeft+8, marginTop+16+14*d, Direction(d))
			empty++
			continue
		}
		fmt.Fprintf(&b, `<path class="series %s" stroke="%s" d="%s"><title>%s</title></path>`,
			Direction(d), colors[d], pathData(pts, sc), html.EscapeString(info.series[d]))
	}
	b.WriteString(`</svg>`)
	return b.String()
}
