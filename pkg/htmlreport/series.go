package htmlreport

import (
	"math"
	"time"

	"github.com/callstat/callstat/pkg/stats"
)

// Metric is one plot of a call: a figure over the call's time, one series
// per direction.
type Metric int

// The plots, in the order shown.
const (
	MetricRTT Metric = iota
	MetricJitter
	MetricLoss
	MetricBitrate
	MetricAudioLevel
	MetricMOS
	numMetrics
)

// Direction is which way the media of a series goes.
type Direction int

// Directions: Inbound is what this participant receives (inbound-rtp,
// remote-outbound-rtp), Outbound what it sends as the far end reports it
// (outbound-rtp, remote-inbound-rtp, media-source).
const (
	Inbound Direction = iota
	Outbound
)

func (d Direction) String() string {
	if d == Inbound {
		return "inbound"
	}
	return "outbound"
}

// metricInfo says how a metric is shown: its title and unit, the series'
// names, and a fixed scale where the figure has one.
type metricInfo struct {
	key, title, unit string
	series           [2]string
	// lo is the bottom of the scale; hi, when above lo, its fixed top
	// (otherwise the data's largest value, rounded up).
	lo, hi float64
	// minTop is the smallest top of a data-driven scale: a call with no
	// loss still gets a scale that shows 0 % as low.
	minTop float64
	digits int // decimals of the tick labels
}

var metrics = [numMetrics]metricInfo{
	MetricRTT: {key: "rtt", title: "Round-trip time", unit: "ms", minTop: 1, digits: 1,
		series: [2]string{"inbound (remote-outbound-rtp, RTCP XR)", "outbound (remote-inbound-rtp, RTCP RR)"}},
	MetricJitter: {key: "jitter", title: "Jitter", unit: "ms", minTop: 1, digits: 1,
		series: [2]string{"inbound (inbound-rtp)", "outbound (remote-inbound-rtp)"}},
	MetricLoss: {key: "loss", title: "Packet loss per interval", unit: "%", minTop: 1, digits: 1,
		series: [2]string{"inbound (inbound-rtp)", "outbound (remote-inbound-rtp fractionLost)"}},
	MetricBitrate: {key: "bitrate", title: "Bitrate", unit: "kbit/s", minTop: 10, digits: 0,
		series: [2]string{"received (inbound-rtp)", "sent (outbound-rtp)"}},
	MetricAudioLevel: {key: "audio-level", title: "Audio level", unit: "", hi: 1, digits: 2,
		series: [2]string{"received (inbound-rtp)", "sent (media-source)"}},
	MetricMOS: {key: "mos", title: "MOS estimate", unit: "", lo: 1, hi: 5, digits: 1,
		series: [2]string{"what this side hears (SDK entry)", "what the far end hears (from its receiver reports)"}},
}

// series is one line of a plot: times in seconds from the call's start,
// and values, in the order sampled.
type series struct {
	t, v []float64
}

func (s *series) add(t, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	s.t = append(s.t, t)
	s.v = append(s.v, v)
}

// callSeries gathers one call's plots from its samples, fed in order.
type callSeries struct {
	start  time.Time
	end    float64 // the last sample's time, in seconds from start
	lines  [numMetrics][2]series
	prev   counters
	prevTS time.Time
	// havePrev says prev holds the sample before: rates and interval
	// loss are taken between two samples.
	havePrev bool
}

// counters are the cumulative counts rates and interval loss are taken
// from.
type counters struct {
	received, lost, bytesReceived float64
	haveIn                        bool
	bytesSent                     float64
	haveOut                       bool
}

func newCallSeries(start time.Time) *callSeries { return &callSeries{start: start} }

// add takes one sample, taken at ts.
func (cs *callSeries) add(ts time.Time, objs []stats.Object) {
	t := ts.Sub(cs.start).Seconds()
	cs.end = math.Max(cs.end, t)
	var cur counters
	var (
		inLevel, outLevel  = math.NaN(), math.NaN()
		inRTT, outRTT      = math.NaN(), math.NaN()
		outJitter, outLoss = math.NaN(), math.NaN()
		mos                = math.NaN()
		in                 = stats.InboundOf(objs)
	)
	for _, o := range objs {
		switch o.Type() {
		case "inbound-rtp":
			cur.bytesReceived += num(o, "bytesReceived")
			if v, ok := o.Number("audioLevel"); ok {
				inLevel = nanMax(inLevel, v)
			}
		case "outbound-rtp":
			if v, ok := o.Number("bytesSent"); ok {
				cur.bytesSent += v
				cur.haveOut = true
			}
		case "media-source":
			if v, ok := o.Number("audioLevel"); ok {
				outLevel = nanMax(outLevel, v)
			}
		case "remote-inbound-rtp":
			if v, ok := rtcpRTT(o); ok {
				outRTT = nanMax(outRTT, v*1000)
			}
			if v, ok := o.Number("jitter"); ok {
				outJitter = nanMax(outJitter, v*1000)
			}
			if v, ok := o.Number("fractionLost"); ok {
				outLoss = nanMax(outLoss, v*100)
			}
		case "remote-outbound-rtp":
			if v, ok := rtcpRTT(o); ok {
				inRTT = nanMax(inRTT, v*1000)
			}
		default:
			if stats.IsSDKEntry(o) {
				if v, ok := o.Number(stats.FieldMOS); ok {
					mos = v
				}
			}
		}
	}
	if in.Present {
		cur.received, cur.lost, cur.haveIn = in.Received, in.Lost, true
	}

	l := &cs.lines
	l[MetricRTT][Inbound].add(t, inRTT)
	l[MetricRTT][Outbound].add(t, outRTT)
	if in.Present {
		l[MetricJitter][Inbound].add(t, in.Jitter*1000)
	}
	l[MetricJitter][Outbound].add(t, outJitter)
	l[MetricLoss][Outbound].add(t, outLoss)
	l[MetricAudioLevel][Inbound].add(t, inLevel)
	l[MetricAudioLevel][Outbound].add(t, outLevel)
	l[MetricMOS][Inbound].add(t, mos)
	// What the far end hears, estimated as this side's own figure is
	// (stats.MOS) from what its receiver reports say.
	if !math.IsNaN(outRTT) && !math.IsNaN(outJitter) && !math.IsNaN(outLoss) {
		l[MetricMOS][Outbound].add(t, stats.MOS(outRTT, outJitter, outLoss))
	}

	if cs.havePrev {
		p := cs.prev
		if dt := ts.Sub(cs.prevTS).Seconds(); dt > 0 {
			if cur.haveIn && p.haveIn && cur.bytesReceived >= p.bytesReceived {
				l[MetricBitrate][Inbound].add(t, (cur.bytesReceived-p.bytesReceived)*8/dt/1000)
			}
			if cur.haveOut && p.haveOut && cur.bytesSent >= p.bytesSent {
				l[MetricBitrate][Outbound].add(t, (cur.bytesSent-p.bytesSent)*8/dt/1000)
			}
		}
		if cur.haveIn && p.haveIn {
			received := cur.received - p.received
			lost := math.Max(cur.lost-p.lost, 0) // duplicates can make it shrink
			if received+lost > 0 && received >= 0 {
				l[MetricLoss][Inbound].add(t, 100*lost/(received+lost))
			}
		}
	} else if cur.haveIn && cur.received+math.Max(cur.lost, 0) > 0 {
		// The first sample's interval starts with the call.
		l[MetricLoss][Inbound].add(t, 100*math.Max(cur.lost, 0)/(cur.received+math.Max(cur.lost, 0)))
	}
	cs.prev, cs.prevTS, cs.havePrev = cur, ts, true
}

// rtcpRTT is an RTCP stats object's round-trip time in seconds, once one
// has been measured.
func rtcpRTT(o stats.Object) (float64, bool) {
	v, ok := o.Number("roundTripTime")
	if !ok {
		return 0, false
	}
	if n, has := o.Number("roundTripTimeMeasurements"); has && n == 0 {
		return 0, false
	}
	return v, true
}

func num(o stats.Object, field string) float64 {
	v, _ := o.Number(field)
	return v
}

func nanMax(a, b float64) float64 {
	if math.IsNaN(a) {
		return b
	}
	return math.Max(a, b)
}
