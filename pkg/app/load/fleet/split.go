package fleet

import (
	"math"
	"slices"
)

// Split divides total into len(weights) whole parts in proportion to the
// weights (largest remainder: the parts add up to total exactly, each
// within one of its exact share).
func Split(total int, weights []float64) []int {
	parts := make([]int, len(weights))
	var sum float64
	for _, w := range weights {
		sum += max(w, 0)
	}
	if len(weights) == 0 || total <= 0 {
		return parts
	}
	if sum <= 0 {
		weights = slices.Repeat([]float64{1}, len(weights))
		sum = float64(len(weights))
	}
	type rem struct {
		i    int
		frac float64
	}
	rems := make([]rem, len(weights))
	given := 0
	for i, w := range weights {
		exact := float64(total) * max(w, 0) / sum
		parts[i] = int(math.Floor(exact))
		given += parts[i]
		rems[i] = rem{i, exact - math.Floor(exact)}
	}
	slices.SortStableFunc(rems, func(a, b rem) int {
		switch {
		case a.frac > b.frac:
			return -1
		case a.frac < b.frac:
			return 1
		}
		return 0
	})
	for k := 0; given < total; k++ {
		parts[rems[k%len(rems)].i]++
		given++
	}
	return parts
}

// Share is one agent's part of a run.
type Share struct {
	Hello
	Calls       int
	Concurrency int
	RampPerSec  float64
}

// Shares splits a run of calls, concurrency and ramp over the agents by
// their weights. Every agent with calls gets a concurrency of at least
// one; agents left without calls are left out.
func Shares(agents []Hello, calls, concurrency int, ramp float64) []Share {
	weights := make([]float64, len(agents))
	for i, h := range agents {
		weights[i] = h.Weight()
	}
	byCalls := Split(calls, weights)
	callWeights := make([]float64, len(agents))
	for i, n := range byCalls {
		callWeights[i] = float64(n)
	}
	byConc := Split(concurrency, callWeights)
	var out []Share
	for i, h := range agents {
		if byCalls[i] == 0 {
			continue
		}
		s := Share{Hello: h, Calls: byCalls[i], Concurrency: min(max(byConc[i], 1), byCalls[i])}
		if ramp > 0 {
			s.RampPerSec = ramp * float64(byCalls[i]) / float64(calls)
		}
		out = append(out, s)
	}
	return out
}
