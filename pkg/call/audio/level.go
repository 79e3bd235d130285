package audio

import "math"

// Level measurement as libwebrtc does it (audio/audio_level.cc,
// voe::AudioLevel::ComputeLevel), for media-source (called on every 10 ms
// frame handed to the encoder, audio/audio_send_stream.cc) and inbound-rtp
// (every 10 ms frame the jitter buffer plays out, audio/channel_receive.cc):
//
//   - a frame's peak is its largest |sample| as 16-bit PCM, capped at 32767
//     (WebRtcSpl_MaxAbsValueW16);
//   - a running maximum takes each peak; every 11th frame it becomes the
//     level, and is then divided by 4 (abs_max_ >>= 2). The level is held
//     for 110 ms and decays by a quarter per 110 ms after a burst: it is
//     not the peak of the last frames;
//   - audioLevel = level / 32767 (pc/rtc_stats_collector.cc,
//     DoubleAudioLevelFromIntAudioLevel);
//   - every frame adds (level / 32767)² × 10 ms to totalAudioEnergy and
//     10 ms to totalSamplesDuration, with the level as it stands after the
//     frame: the held level, not the frame's own peak (the W3C text sums
//     squared samples; libwebrtc, and so Chrome, do this).
const (
	levelFramesPerSecond = 100
	levelFrame           = SampleRate / levelFramesPerSecond // 10 ms
	levelFrameS          = 0.01
	// levelUpdateFrequency is libwebrtc's kUpdateFrequency: the level is
	// updated when the frame counter reaches it, every 11th frame.
	levelUpdateFrequency = 10
	levelFullScale       = math.MaxInt16 // 32767
)

// levelMeter accumulates the level of one stream at 48 kHz mono. It is not
// safe for concurrent use; its owner locks.
type levelMeter struct {
	frames uint64 // complete 10 ms frames measured
	// sumSq is Σ level² over them, level in 16-bit units: an integer sum,
	// exact, so that a difference of two readings (SourceStats.Since) is
	// exact too.
	sumSq uint64

	fill   int     // samples of the frame being filled
	peakF  float32 // its largest |sample|, float input
	peakI  int16   // its largest |sample|, 16-bit input (capped)
	absMax int16   // abs_max_
	count  int     // count_
	level  int16   // current_level_full_range_
}

// addFloat measures float samples (full scale ±1), as libwebrtc sees them
// once converted to 16 bits: the source's PCM.
func (m *levelMeter) addFloat(samples []float32) {
	for len(samples) > 0 {
		n := min(len(samples), levelFrame-m.fill)
		for _, s := range samples[:n] {
			if s < 0 {
				s = -s
			}
			if s > m.peakF { // NaN never is: it reads as silence
				m.peakF = s
			}
		}
		m.fill += n
		samples = samples[n:]
		if m.fill == levelFrame {
			m.endFrame(peakToInt16(m.peakF))
		}
	}
}

// addInt16 measures 16-bit samples: the decoded audio.
func (m *levelMeter) addInt16(samples []int16) {
	for len(samples) > 0 {
		n := min(len(samples), levelFrame-m.fill)
		if p := maxAbs16(samples[:n]); p > m.peakI {
			m.peakI = p
		}
		m.fill += n
		samples = samples[n:]
		if m.fill == levelFrame {
			m.endFrame(m.peakI)
		}
	}
}

// endFrame is ComputeLevel for a frame whose peak is peak.
func (m *levelMeter) endFrame(peak int16) {
	m.fill, m.peakF, m.peakI = 0, 0, 0
	if peak > m.absMax {
		m.absMax = peak
	}
	if m.count == levelUpdateFrequency {
		m.level = m.absMax
		m.count = 0
		m.absMax >>= 2
	} else {
		m.count++
	}
	m.sumSq += uint64(m.level) * uint64(m.level)
	m.frames++
}

// peakToInt16 converts a float peak to 16 bits as a float-to-PCM conversion
// does (×32768, rounded), capped at 32767 as WebRtcSpl_MaxAbsValueW16 caps.
func peakToInt16(p float32) int16 {
	v := math.Round(float64(p) * (1 << 15))
	if v >= levelFullScale {
		return levelFullScale
	}
	return int16(v)
}

// maxAbs16 is WebRtcSpl_MaxAbsValueW16: the largest |sample|, capped at
// 32767 (|-32768| does not fit).
func maxAbs16(samples []int16) int16 {
	var p int32
	for _, s := range samples {
		v := int32(s)
		if v < 0 {
			v = -v
		}
		if v > p {
			p = v
		}
	}
	return int16(min(p, levelFullScale))
}

// energy is totalAudioEnergy: Σ (level/32767)² × 10 ms, computed once from
// the exact integer sum (added up frame by frame, the rounding errors of
// 0.01 would show in every sample).
func (m *levelMeter) energy() float64 {
	return float64(m.sumSq) / (levelFullScale * levelFullScale) * levelFrameS
}

// duration is totalSamplesDuration: the complete frames, counted exactly.
func (m *levelMeter) duration() float64 { return float64(m.frames) / levelFramesPerSecond }

// audioLevel is the held level on W3C's 0..1 scale.
func (m *levelMeter) audioLevel() float64 { return float64(m.level) / levelFullScale }
