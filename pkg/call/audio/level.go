package audio

import (
	"math"
	"strconv"
)

// Level measurement, the way browsers compute the W3C audio statistics
// (Chrome's AudioLevel): audio is cut into 10 ms frames; a frame's level is
// its peak |sample| (full scale = 1); totalAudioEnergy adds level² × 10 ms
// per frame, so that sqrt(ΔtotalAudioEnergy/ΔtotalSamplesDuration) is the
// average level between two samples as the W3C spec describes; audioLevel
// is the highest frame level of the last 100 ms. For a sine of amplitude A
// both come out as A.
const (
	levelFramesPerSecond = 100
	levelFrame           = SampleRate / levelFramesPerSecond // 10 ms
	levelFrames          = 10                                // audioLevel covers the last 100 ms
	levelFrameS          = 0.01
	silentLevelF         = 1.0 / 32768 // below one 16-bit step: silence
)

// levelMeter accumulates audio of one stream at 48 kHz mono. It is not
// safe for concurrent use; its owner locks.
type levelMeter struct {
	samples uint64  // samples measured
	frames  uint64  // complete 10 ms frames measured
	sumSq   float64 // Σ level² over them (each exact: a float32 squared)

	framePeak  float64 // peak of the frame being filled
	frameFill  int
	windowPeak float64 // peak over the frames of the current window
	windowN    int
	level      float64 // audioLevel: peak of the last complete window
}

// add measures samples (mono, 48 kHz, full scale ±1).
func (m *levelMeter) add(samples []float32) {
	m.samples += uint64(len(samples))
	for _, s := range samples {
		a := math.Abs(float64(s))
		if a > m.framePeak {
			m.framePeak = a
		}
		m.frameFill++
		if m.frameFill == levelFrame {
			m.endFrame()
		}
	}
}

func (m *levelMeter) endFrame() {
	peak := math.Min(m.framePeak, 1)
	m.sumSq += peak * peak
	m.frames++
	if peak > m.windowPeak {
		m.windowPeak = peak
	}
	m.windowN++
	if m.windowN == levelFrames {
		m.level = m.windowPeak
		m.windowPeak, m.windowN = 0, 0
	}
	m.framePeak, m.frameFill = 0, 0
}

// peak returns the largest |sample| of samples.
func peak(samples []float32) float64 {
	var p float64
	for _, s := range samples {
		if a := math.Abs(float64(s)); a > p {
			p = a
		}
	}
	return p
}

// energy is totalAudioEnergy: Σ level² × 10 ms, multiplied once at the end
// (added up frame by frame, the rounding errors would show in every
// sample).
func (m *levelMeter) energy() float64 { return m.sumSq * levelFrameS }

// duration is totalSamplesDuration: the complete frames, counted exactly.
func (m *levelMeter) duration() float64 { return float64(m.frames) / levelFramesPerSecond }

// audioLevel is the level, a float32 peak, written with the digits a
// float32 has: converted to float64 it would print 17 digits of noise.
func (m *levelMeter) audioLevel() float64 { return shortFloat32(m.level) }

// shortFloat32 returns the float64 closest to the shortest decimal that
// identifies v as a float32.
func shortFloat32(v float64) float64 {
	var buf [32]byte
	f, err := strconv.ParseFloat(string(strconv.AppendFloat(buf[:0], v, 'g', -1, 32)), 64)
	if err != nil {
		return v
	}
	return f
}
