package audio

import (
	"io"
	"math"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// Audio format of synthetic sources: what the Opus encoder wants, so that
// nothing needs converting.
const (
	SampleRate = 48000
	FrameTime  = 20 * time.Millisecond
	frameLen   = SampleRate * int(FrameTime/time.Millisecond) / 1000
)

// ToneAmplitude is the peak amplitude of the tone source, as a fraction of
// full scale. W3C audioLevel of a sine is its peak amplitude.
const ToneAmplitude = 0.5

// synthDriver is a mediadevices audio driver that produces a sine tone (or
// silence when hz is 0) in real time, one 20 ms frame at a time.
type synthDriver struct {
	hz float64

	mu     sync.Mutex
	closed chan struct{}
}

func (d *synthDriver) Open() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = make(chan struct{})
	return nil
}

func (d *synthDriver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed != nil {
		close(d.closed)
		d.closed = nil
	}
	return nil
}

func (d *synthDriver) Properties() []prop.Media {
	return []prop.Media{{
		Audio: prop.Audio{
			SampleRate:    SampleRate,
			ChannelCount:  1,
			Latency:       FrameTime,
			SampleSize:    4,
			IsFloat:       true,
			IsInterleaved: true,
		},
	}}
}

// AudioRecord returns a reader paced to real time: it sleeps until each
// frame is due, so a call sends 50 frames a second like a sound card would.
func (d *synthDriver) AudioRecord(prop.Media) (audio.Reader, error) {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()

	step := 2 * math.Pi * d.hz / SampleRate
	var phase float64
	next := time.Now()
	timer := time.NewTimer(0)
	<-timer.C
	return audio.ReaderFunc(func() (wave.Audio, func(), error) {
		if wait := time.Until(next); wait > 0 {
			timer.Reset(wait)
			select {
			case <-closed:
				timer.Stop()
				return nil, func() {}, io.EOF
			case <-timer.C:
			}
		} else {
			select {
			case <-closed:
				return nil, func() {}, io.EOF
			default:
			}
		}
		next = next.Add(FrameTime)
		// A reader stalled for more than a few frames (a paused process)
		// resumes in real time instead of bursting to catch up.
		if lag := time.Since(next); lag > 5*FrameTime {
			next = time.Now()
		}
		chunk := wave.NewFloat32Interleaved(wave.ChunkInfo{Channels: 1, Len: frameLen, SamplingRate: SampleRate})
		if d.hz > 0 {
			for i := range chunk.Data {
				chunk.Data[i] = float32(ToneAmplitude * math.Sin(phase))
				phase += step
			}
			phase = math.Mod(phase, 2*math.Pi)
		}
		return chunk, func() {}, nil
	}), nil
}
