package audio

import "math"

// ToneLevel estimates the amplitude (full scale 1) of the hz component of
// samples taken at rate, with the Goertzel algorithm: a pure sine of
// amplitude A gives about A, anything without that frequency about 0. It
// lets tests and tools check which tone a recording holds.
func ToneLevel(samples []float32, rate int, hz float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	// Hann window: keeps a neighbouring tone's leakage out of the bin.
	n := float64(len(samples))
	coeff := 2 * math.Cos(2*math.Pi*hz/float64(rate))
	var s1, s2, wsum float64
	for i, x := range samples {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/n)
		wsum += w
		s0 := w*float64(x) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	if power < 0 {
		power = 0
	}
	return 2 * math.Sqrt(power) / wsum
}
