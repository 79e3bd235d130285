package audio

import (
	"math"
	"time"
)

// deviceBuffer is how far ahead of its output the playout device asks for
// audio: one 10 ms buffer, a low-latency sound card's.
const deviceBuffer = 10 * time.Millisecond

// PlayoutStats are the W3C media-playout fields of a call's playout path.
type PlayoutStats struct {
	// SynthesizedSamplesDuration is the audio the device played because
	// the playout path was late delivering (silence), in seconds, and
	// SynthesizedSamplesEvents the runs of it.
	SynthesizedSamplesDuration float64
	SynthesizedSamplesEvents   uint64
	// TotalSamplesDuration is everything the device played, synthesized
	// included, in seconds.
	TotalSamplesDuration float64
	// TotalPlayoutDelay is, summed over the samples pulled, the time from
	// each one's pull to its playout, in seconds; TotalSamplesCount counts
	// those samples.
	TotalPlayoutDelay float64
	TotalSamplesCount uint64
}

// device models the sound card that pulls a call's audio. callstat has no
// sound card to play to, but a browser's figures depend on one: its
// audio device asks for 10 ms at a time, shortly before it needs them, and
// plays silence when the audio comes too late. The model plays each frame
// from the moment the previous one ends (playEnd), asks for the next one
// deviceBuffer before that, and when a frame is delivered after its
// predecessor ended, counts the gap as synthesized and plays the frame
// from then on. A frame delivered on time waits deviceBuffer, plus its
// samples' place in the frame, to be heard.
type device struct {
	started      bool
	playEnd      time.Time
	synthesizing bool
	synthesized  uint64 // samples
	samples      uint64 // pulled
	delay        float64
	events       uint64
}

// deliver takes n samples pulled at now. It returns how many samples of
// silence the device played before them, having had nothing to play.
func (d *device) deliver(now time.Time, n int) (silence int) {
	if !d.started {
		d.started = true
		d.playEnd = now.Add(deviceBuffer)
	}
	if gap := now.Sub(d.playEnd); gap > 0 {
		if s := uint64(math.Round(gap.Seconds() * SampleRate)); s > 0 {
			d.synthesized += s
			silence = int(s)
			if !d.synthesizing {
				d.events++
			}
			d.synthesizing = true
		}
		d.playEnd = now
	} else {
		d.synthesizing = false
	}
	// Sample i is heard at playEnd + i/48000.
	lead := d.playEnd.Sub(now).Seconds()
	d.delay += float64(n)*lead + float64(n*(n-1))/2/SampleRate
	d.samples += uint64(n)
	d.playEnd = d.playEnd.Add(time.Duration(n) * time.Second / SampleRate)
	return silence
}

// next is when the device asks for its next frame: deviceBuffer before
// the audio it has runs out; every 10 ms until it started.
func (d *device) next(now time.Time) time.Time {
	if !d.started {
		return now.Add(time.Second / 100)
	}
	return d.playEnd.Add(-deviceBuffer)
}

func (d *device) stats() PlayoutStats {
	return PlayoutStats{
		SynthesizedSamplesDuration: float64(d.synthesized) / SampleRate,
		SynthesizedSamplesEvents:   d.events,
		TotalSamplesDuration:       float64(d.samples+d.synthesized) / SampleRate,
		TotalPlayoutDelay:          d.delay,
		TotalSamplesCount:          d.samples,
	}
}
