package stats

import "math"

// MOS estimates the audio Mean Opinion Score (1 to about 4.43) from the
// round-trip time and jitter in milliseconds and the packet loss in
// percent, with the E-model simplification Twilio's voice SDK uses
// (REFERENCE §2): the effective latency rtt + 2·jitter + 10 lowers the
// R-factor slowly up to 160 ms and fast beyond, each percent of loss
// takes 2.5 off it, and R maps to MOS with ITU-T G.107's formula.
func MOS(rttMs, jitterMs, lossPercent float64) float64 {
	leff := rttMs + 2*jitterMs + 10
	var r float64
	switch {
	case leff < 160:
		r = 94.768 - leff/40
	case leff < 1000:
		r = 94.768 - (leff-120)/10
	}
	if lossPercent <= r/2.5 {
		r = math.Max(r-2.5*lossPercent, 6.52)
	} else {
		r = 0
	}
	return 1 + 0.035*r + 0.000007*r*(r-60)*(100-r)
}

// Quality is the MOS estimate of one sampling interval with its inputs.
// It describes what this participant hears: the jitter and loss of the
// streams it receives, over the connection's round-trip time.
type Quality struct {
	MOS         float64
	RTTMs       float64 // RTCP round-trip time, else the ICE one
	JitterMs    float64 // the worst received stream's jitter
	LossPercent float64 // received packets lost during the interval
}

// SDK entry fields that carry a sample's Quality.
const (
	FieldMOS                 = "mos"
	FieldRTTMs               = "rttMs"
	FieldJitterMs            = "jitterMs"
	FieldIntervalLossPercent = "intervalLossPercent"
)

// IntervalQuality computes the Quality of the interval that ends with the
// sample cur, given the sample before it (nil for the first sample of a
// call: the interval then starts with the call). It reports false when the
// interval cannot be rated: nothing was received during it, or no
// round-trip time is known yet.
func IntervalQuality(prev, cur []Object) (Quality, bool) {
	in := InboundOf(cur)
	if !in.Present {
		return Quality{}, false
	}
	before := InboundOf(prev)
	received := in.Received - before.Received
	lost := math.Max(in.Lost-before.Lost, 0) // duplicates can make it shrink
	if received <= 0 {
		return Quality{}, false
	}
	rtt, ok := RoundTripTime(cur)
	if !ok {
		return Quality{}, false
	}
	q := Quality{RTTMs: rtt * 1000, JitterMs: in.Jitter * 1000, LossPercent: 100 * lost / (received + lost)}
	q.MOS = MOS(q.RTTMs, q.JitterMs, q.LossPercent)
	return q, true
}

// SetOn writes q into an SDK entry, rounded to 1/1000 (of a MOS point, of a
// millisecond, of a percent): finer digits would only be noise.
func (q Quality) SetOn(entry Object) {
	entry[FieldMOS] = round3(q.MOS)
	entry[FieldRTTMs] = round3(q.RTTMs)
	entry[FieldJitterMs] = round3(q.JitterMs)
	entry[FieldIntervalLossPercent] = round3(q.LossPercent)
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// Inbound sums what a sample's inbound-rtp objects say.
type Inbound struct {
	Present        bool // the sample has an inbound-rtp object
	Received, Lost float64
	Jitter         float64 // seconds, the worst stream's
}

// InboundOf sums the inbound-rtp objects of a sample.
func InboundOf(objs []Object) Inbound {
	var in Inbound
	for _, o := range objs {
		if o.Type() != "inbound-rtp" {
			continue
		}
		in.Present = true
		r, _ := o.Number("packetsReceived")
		l, _ := o.Number("packetsLost")
		j, _ := o.Number("jitter")
		in.Received += r
		in.Lost += l
		in.Jitter = math.Max(in.Jitter, j)
	}
	return in
}

// RoundTripTime is a sample's round-trip time in seconds: from RTCP
// (remote-inbound-rtp, the worst stream) once measured, else from ICE (the
// transport's selected candidate pair, else the nominated one, else any
// pair that measured one). It reports false when nothing has measured one.
func RoundTripTime(objs []Object) (float64, bool) {
	var rtcp float64
	var haveRTCP bool
	var selected string
	var pairs []Object
	for _, o := range objs {
		switch o.Type() {
		case "remote-inbound-rtp":
			n, hasCount := o.Number("roundTripTimeMeasurements")
			if v, ok := o.Number("roundTripTime"); ok && (n > 0 || !hasCount && v > 0) {
				rtcp = math.Max(rtcp, v)
				haveRTCP = true
			}
		case "transport":
			if s, ok := o["selectedCandidatePairId"].(string); ok && s != "" {
				selected = s
			}
		case "candidate-pair":
			pairs = append(pairs, o)
		}
	}
	if haveRTCP {
		return rtcp, true
	}
	return pairRTT(pairs, selected)
}

// pairRTT is the ICE round-trip time, in seconds, of the pair in use: the
// transport's selected pair when it names one, else the nominated pair,
// else any pair that has measured one.
func pairRTT(pairs []Object, selected string) (float64, bool) {
	var nominated, first float64
	var haveNominated, haveFirst bool
	for _, p := range pairs {
		v, ok := p.Number("currentRoundTripTime")
		if !ok || v <= 0 {
			continue
		}
		if selected != "" && p.ID() == selected {
			return v, true
		}
		if n, _ := p["nominated"].(bool); n && !haveNominated {
			nominated, haveNominated = v, true
		}
		if !haveFirst {
			first, haveFirst = v, true
		}
	}
	if haveNominated {
		return nominated, true
	}
	return first, haveFirst
}
