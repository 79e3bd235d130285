package audio

import "math"

// Time stretching, after NetEq's TimeStretch, Accelerate and
// PreemptiveExpand (modules/audio_coding/neteq/time_stretch.cc,
// accelerate.cc, preemptive_expand.cc): to shorten or lengthen the buffered
// audio without an audible cut, one pitch period is removed or repeated
// with a cross-fade, around 15 ms into 30 ms of audio, where the signal
// repeats itself well (correlation above 0.9) or is too quiet to matter.
const (
	stretchInput  = 30 * samplesPerMs // audio the analysis needs
	stretchMiddle = 15 * samplesPerMs // where a period is removed or repeated
	// The pitch search runs at 4 kHz over lags of 2.5 to 15 ms, as NetEq's
	// kMinLag, kMaxLag and kCorrelationLen.
	downFactor = SampleRate / 4000
	minLag     = 10
	maxLag     = 60
	corrLen    = 50
	downLen    = corrLen + maxLag
	corrStrong = 0.9 // kCorrelationThreshold, 14746 in Q14
	corrFast   = 0.5 // fast accelerate's threshold
	overlapLen = 5 * samplesPerMs
	// passiveLevel is NetEq's speech detection without a noise estimate,
	// (e1+e2)/16 > period × 75000: a mean energy per sample above 600000
	// (an RMS of 775 in 16-bit units, -32 dBFS) is speech.
	passiveLevel = 75000 * 16 / 2
)

// pitch is the analysis of x[:stretchInput]: the pitch period in samples,
// the normalised correlation of the period before the middle with the one
// after it, and whether the audio is loud enough to be speech.
func pitch(x []int16) (period int, corr float64, active bool) {
	// Downsample to 4 kHz: the mean of each 12 samples (NetEq low-pass
	// filters first; for a lag search a box filter does).
	var d [downLen]float64
	for i := range d {
		var s int32
		for _, v := range x[i*downFactor : (i+1)*downFactor] {
			s += int32(v)
		}
		d[i] = float64(s) / downFactor
	}
	// Autocorrelation of the last corrLen samples at each lag.
	var c [maxLag - minLag]float64
	best := 0
	for k := range c {
		lag := minLag + k
		var s float64
		for i := range corrLen {
			s += d[maxLag+i] * d[maxLag+i-lag]
		}
		c[k] = s
		if s > c[best] {
			best = k
		}
	}
	// Parabolic interpolation around the peak, then the lag at 48 kHz.
	lag := float64(minLag + best)
	if best > 0 && best < len(c)-1 {
		if den := c[best-1] - 2*c[best] + c[best+1]; den < 0 {
			lag += 0.5 * (c[best-1] - c[best+1]) / den
		}
	}
	estimate := int(math.Round(lag * downFactor))
	// Refine at 48 kHz: the period, within half a 4 kHz sample of the
	// estimate, whose two sides correlate best. NetEq stops at the
	// interpolated estimate; a period a few samples off leaves a phase
	// jump in a tone wherever the audio is stretched.
	period, corr = minLag*downFactor, -1
	for p := max(estimate-downFactor/2, minLag*downFactor); p <= min(estimate+downFactor/2, stretchMiddle); p++ {
		c, e := correlation(x, p)
		if c > corr {
			period, corr, active = p, c, e > passiveLevel
		}
	}
	return period, max(corr, 0), active
}

// correlation is the normalised correlation of the period of x before the
// middle with the one after it, and their mean energy per sample.
func correlation(x []int16, period int) (corr, energy float64) {
	v1, v2 := x[stretchMiddle-period:stretchMiddle], x[stretchMiddle:stretchMiddle+period]
	var e1, e2, cross float64
	for i := range period {
		a, b := float64(v1[i]), float64(v2[i])
		e1 += a * a
		e2 += b * b
		cross += a * b
	}
	if e1 > 0 && e2 > 0 {
		corr = min(1, max(0, cross)/math.Sqrt(e1*e2))
	}
	return corr, (e1 + e2) / float64(2*period)
}

// crossFade writes into dst the fade from a to b over len(dst) samples,
// with NetEq's AudioVector::CrossFade weights.
func crossFade(dst, a, b []int16) {
	n := len(dst)
	step := 16384 / (n + 1)
	alpha := 16384
	for i := range n {
		alpha -= step
		dst[i] = int16((alpha*int(a[i]) + (16384-alpha)*int(b[i]) + 8192) >> 14)
	}
}

// accelerate removes a pitch period from x (at least 30 ms), writing the
// result to out (len(x) long at least), and returns the samples removed,
// 0 if the audio did not allow it. fast is NetEq's fast accelerate, used
// when the delay is far above its target: a lower correlation suffices and
// as many periods as fit in 15 ms go.
func accelerate(x, out []int16, fast bool) int {
	if len(x) < stretchInput {
		return 0
	}
	period, corr, active := pitch(x)
	threshold := corrStrong
	if fast {
		threshold = corrFast
	}
	if active && corr <= threshold {
		return 0
	}
	if fast {
		period = stretchMiddle / period * period
	}
	// x[:15ms-P], the fade of x[15ms-P:15ms] into x[15ms:15ms+P], the rest.
	cut := stretchMiddle - period
	copy(out, x[:cut])
	crossFade(out[cut:stretchMiddle], x[cut:stretchMiddle], x[stretchMiddle:stretchMiddle+period])
	copy(out[stretchMiddle:], x[stretchMiddle+period:])
	return period
}

// preemptiveExpand repeats a pitch period of x (at least 30 ms), writing
// the result to out (len(x) + 15 ms long at least), and returns the
// samples added, 0 if the audio did not allow it. old is how much of x was
// buffered before this decision: NetEq stretches only new audio.
func preemptiveExpand(x, out []int16, old int) int {
	if len(x) < stretchInput || old >= len(x)-overlapLen {
		return 0
	}
	period, corr, active := pitch(x)
	if !active {
		period = min(period, len(x)-old)
	}
	if !((corr > corrStrong && old <= stretchMiddle) || !active) {
		return 0
	}
	keep := max(old, stretchMiddle)
	if keep+period > len(x) || keep < period {
		return 0
	}
	// x[:keep], the fade of x[keep:keep+P] into x[keep-P:keep], then
	// x[keep:] again: one period played twice.
	copy(out, x[:keep])
	crossFade(out[keep:keep+period], x[keep:keep+period], x[keep-period:keep])
	copy(out[keep+period:], x[keep:])
	return period
}
