package audio

import "math"

// Level measurement, the way browsers compute the W3C audio statistics
// (Chrome's AudioLevel): audio is cut into 10 ms frames; a frame's level is
// its peak |sample| (full scale = 1); totalAudioEnergy adds level² × 10 ms
// per frame, so that sqrt(ΔtotalAudioEnergy/ΔtotalSamplesDuration) is the
// average level between two samples as the W3C spec describes; audioLevel
// is the highest frame level of the last 100 ms. For a sine of amplitude A
// both come out as A.
const (
	levelFrame   = SampleRate / 100 // 10 ms
	levelFrames  = 10               // audioLevel covers the last 100 ms
	levelFrameS  = 0.01
	silentLevelF = 1.0 / 32768 // below one 16-bit step: silence
)

// levelMeter accumulates audio of one stream at 48 kHz mono. It is not
// safe for concurrent use; its owner locks.
type levelMeter struct {
	samples  uint64  // samples measured
	energy   float64 // Σ level² × frame duration
	duration float64 // seconds of complete frames measured

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
	m.energy += peak * peak * levelFrameS
	m.duration += levelFrameS
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
