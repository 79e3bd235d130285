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

// Audio format of every source: what the Opus encoder wants, so that
// nothing needs converting after the driver.
const (
	SampleRate = 48000
	FrameTime  = 20 * time.Millisecond
	frameLen   = SampleRate * int(FrameTime/time.Millisecond) / 1000
)

// ToneAmplitude is the peak amplitude of the tone source, as a fraction of
// full scale. W3C audioLevel of a sine is its peak amplitude.
const ToneAmplitude = 0.5

// generator fills one frame of 48 kHz mono audio.
type generator interface {
	fill(frame []float32)
}

// sine is the tone source.
type sine struct {
	step, phase float64
}

func newSine(hz float64) *sine { return &sine{step: 2 * math.Pi * hz / SampleRate} }

func (g *sine) fill(frame []float32) {
	for i := range frame {
		frame[i] = float32(ToneAmplitude * math.Sin(g.phase))
		g.phase += g.step
	}
	g.phase = math.Mod(g.phase, 2*math.Pi)
}

// silence is the silence source.
type silence struct{}

func (silence) fill(frame []float32) { clear(frame) }

// loop plays samples over and over (a WAV file).
type loop struct {
	samples []float32
	pos     int
}

func (g *loop) fill(frame []float32) {
	for i := range frame {
		frame[i] = g.samples[g.pos]
		g.pos++
		if g.pos == len(g.samples) {
			g.pos = 0
		}
	}
}

// genDriver is a mediadevices audio driver that produces a generator's
// audio in real time, one 20 ms frame at a time, like a sound card would.
type genDriver struct {
	gen generator

	mu     sync.Mutex
	closed chan struct{}
}

func (d *genDriver) Open() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = make(chan struct{})
	return nil
}

func (d *genDriver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed != nil {
		close(d.closed)
		d.closed = nil
	}
	return nil
}

func (d *genDriver) Properties() []prop.Media { return monoFloat48k() }

// monoFloat48k is the only format callstat's drivers offer.
func monoFloat48k() []prop.Media {
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
// frame is due, so a call sends 50 frames a second.
func (d *genDriver) AudioRecord(prop.Media) (audio.Reader, error) {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()

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
		d.gen.fill(chunk.Data)
		return chunk, func() {}, nil
	}), nil
}
