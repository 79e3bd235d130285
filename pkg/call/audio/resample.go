package audio

import "math"

// resampleZeros is how many zero crossings of the sinc each side of a
// sample the resampler uses: 16 gives a steep low-pass (more than 60 dB of
// stop-band attenuation with the Hann window) at a modest cost.
const resampleZeros = 16

// maxPhases bounds the table of filter phases; rates whose ratio to 48 kHz
// would need more (unusual rates such as 47999 Hz) compute their weights
// sample by sample instead.
const maxPhases = 4096

// resample converts in from rate from to rate to with a Hann-windowed sinc
// filter whose cut-off is the lower of the two Nyquist frequencies, so
// downsampling does not alias. The input is treated as periodic, because
// sources loop it: the end joins the start without a click.
func resample(in []float32, from, to int) []float32 {
	if from == to || len(in) == 0 {
		return in
	}
	g := gcd(from, to)
	up, down := to/g, from/g // output j sits at input position j*down/up
	ratio := float64(to) / float64(from)
	cutoff := math.Min(1, ratio) // relative to the input's Nyquist frequency
	half := float64(resampleZeros) / cutoff
	k := int(math.Ceil(half)) // taps each side
	n := int(math.Round(float64(len(in)) * ratio))
	out := make([]float32, n)

	weight := func(x float64) float64 {
		if math.Abs(x) >= half {
			return 0
		}
		return cutoff * sinc(cutoff*x) * 0.5 * (1 + math.Cos(math.Pi*x/half))
	}
	// phase p (0 ≤ p < up) has weights for input offsets base-k+1 … base+k.
	weights := func(p int, w []float64) {
		frac := float64(p) / float64(up)
		var sum float64
		for t := range w {
			w[t] = weight(float64(k-1-t) + frac)
			sum += w[t]
		}
		for t := range w { // unity gain at DC
			w[t] /= sum
		}
	}
	var table [][]float64
	if up <= maxPhases {
		table = make([][]float64, up)
		for p := range table {
			table[p] = make([]float64, 2*k)
			weights(p, table[p])
		}
	}
	scratch := make([]float64, 2*k)
	m := len(in)
	for j := range out {
		pos := j * down
		base, p := pos/up, pos%up
		w := scratch
		if table != nil {
			w = table[p]
		} else {
			weights(p, w)
		}
		var acc float64
		i := base - k + 1
		if i >= 0 && i+len(w) <= m {
			for t, x := range in[i : i+len(w)] {
				acc += w[t] * float64(x)
			}
		} else { // near the ends: wrap around
			for t, wt := range w {
				idx := (i + t) % m
				if idx < 0 {
					idx += m
				}
				acc += wt * float64(in[idx])
			}
		}
		out[j] = float32(acc)
	}
	return out
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
