package audio

// #include <stdlib.h>
import "C"

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// The microphone driver. It is registered with mediadevices' driver manager
// and opened through GetUserMedia like the synthetic drivers, and captures
// through malgo (miniaudio), the library mediadevices' own microphone driver
// uses. That driver (pkg/driver/microphone) is not imported: its init()
// enumerates devices in every process that links it, before main and before
// any flag is parsed (tens of milliseconds and ALSA/JACK noise on stderr
// for `serve` and `dump` on a machine without a sound server, and a panic
// that cannot be recovered if the audio context cannot be created); it sees
// only devices present at start-up; its ids are random per process; and on
// a device reporting zero channels (ALSA's null device) its reader panics.
// See docs/audio.md.

// Capture limits.
const (
	// noAudioTimeout bounds the wait for a frame: a device that stops
	// delivering ends the source instead of hanging it.
	noAudioTimeout = 3 * time.Second
	// A device delivering more than twice real time plus the slack, once
	// pacingGrace has passed, is not a sound card (see tooFast).
	pacingGrace = 100 * time.Millisecond
	pacingSlack = 250 * time.Millisecond
	// micQueue is how many 20 ms frames wait for the encoder; more are
	// dropped rather than blocking the audio thread.
	micQueue = 25
)

// Device is a capture device the audio backend reports.
type Device struct {
	// ID is what --audio mic:<id> takes: the backend's device id as text
	// (a PulseAudio source name, an ALSA PCM name), or hex when it is not
	// printable. It is stable across runs, unlike mediadevices' ids.
	ID      string
	Name    string
	Default bool

	raw malgo.DeviceID
}

// CaptureDevices lists the capture devices the audio backend (PulseAudio,
// else ALSA, on Linux) reports. The list may include devices that deliver
// no real audio, such as ALSA's null device; opening one through Open is
// the test.
func CaptureDevices(log *slog.Logger) ([]Device, error) {
	mctx, err := newAudioContext(log)
	if err != nil {
		return nil, err
	}
	defer freeAudioContext(mctx)
	return captureDevices(mctx)
}

func newAudioContext(log *slog.Logger) (*malgo.AllocatedContext, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mctx, err := malgo.InitContext(audioBackends, malgo.ContextConfig{}, func(msg string) {
		log.Debug("audio backend", "msg", strings.TrimSpace(msg))
	})
	if err != nil {
		return nil, fmt.Errorf("%w: no audio backend could be initialised (%v)", ErrUserMedia, err)
	}
	return mctx, nil
}

func freeAudioContext(mctx *malgo.AllocatedContext) {
	_ = mctx.Uninit()
	mctx.Free()
}

func captureDevices(mctx *malgo.AllocatedContext) ([]Device, error) {
	infos, err := mctx.Devices(malgo.Capture)
	if err != nil {
		return nil, fmt.Errorf("%w: listing capture devices: %v", ErrUserMedia, err)
	}
	out := make([]Device, 0, len(infos))
	for _, in := range infos {
		out = append(out, Device{ID: deviceIDString(in.ID), Name: in.Name(), Default: in.IsDefault != 0, raw: in.ID})
	}
	return out, nil
}

// deviceIDString shows a backend device id as text when it is printable.
func deviceIDString(id malgo.DeviceID) string {
	b := id[:]
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	printable := len(b) > 0 && b[0] != ' ' && b[len(b)-1] != ' '
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			printable = false
		}
	}
	if printable {
		return string(b)
	}
	return id.String()
}

// pickDevice finds want among devs by id, hex id or name; an empty want is
// the backend's default device (nil: let the backend choose).
func pickDevice(devs []Device, want string) (*Device, error) {
	if want == "" {
		for i := range devs {
			if devs[i].Default {
				return &devs[i], nil
			}
		}
		if len(devs) == 0 {
			return nil, fmt.Errorf("%w: no capture device found", ErrUserMedia)
		}
		return nil, nil
	}
	for _, match := range []func(Device) bool{
		func(d Device) bool { return d.ID == want },
		func(d Device) bool { return d.raw.String() == want },
		func(d Device) bool { return d.Name == want },
	} {
		for i := range devs {
			if match(devs[i]) {
				return &devs[i], nil
			}
		}
	}
	ids := make([]string, 0, len(devs))
	for _, d := range devs {
		ids = append(ids, d.ID)
	}
	return nil, fmt.Errorf("%w: no capture device %q (devices: %s)", ErrUserMedia, want, strings.Join(ids, ", "))
}

// micDriver captures one device as 48 kHz mono float, whatever the
// device's own format: miniaudio converts channels, format and rate.
type micDriver struct {
	mctx *malgo.AllocatedContext
	dev  *Device // nil: the backend's default device
	log  *slog.Logger

	mu       sync.Mutex
	device   *malgo.Device
	cID      unsafe.Pointer // C copy of the device id, freed with the device
	frames   chan []float32
	closed   chan struct{}
	stopped  chan struct{}
	stopOnce *sync.Once
	closing  atomic.Bool
	rejected atomic.Bool // refused for its pacing: its drops mean nothing
	start    time.Time

	// Written by the audio thread only.
	pending  []float32
	captured atomic.Int64 // samples delivered by the device
	dropped  atomic.Int64 // frames dropped because the encoder lagged
}

// openMic creates an audio context and finds the device.
func openMic(want string, log *slog.Logger) (*micDriver, error) {
	mctx, err := newAudioContext(log)
	if err != nil {
		return nil, err
	}
	devs, err := captureDevices(mctx)
	if err == nil {
		var dev *Device
		dev, err = pickDevice(devs, want)
		if err == nil {
			return &micDriver{mctx: mctx, dev: dev, log: log}, nil
		}
	}
	freeAudioContext(mctx)
	return nil, err
}

// describe names the device for logs and errors.
func (d *micDriver) describe() string {
	if d.dev == nil {
		return "default capture device"
	}
	if d.dev.Name == d.dev.ID || d.dev.Name == "" {
		return fmt.Sprintf("capture device %q", d.dev.ID)
	}
	return fmt.Sprintf("capture device %q (%s)", d.dev.Name, d.dev.ID)
}

// free releases the audio context once the driver is closed.
func (d *micDriver) free() { freeAudioContext(d.mctx) }

func (d *micDriver) Open() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = make(chan struct{})
	return nil
}

func (d *micDriver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closing.Store(true)
	if d.device != nil {
		// Uninit returns once the audio thread has left the callback.
		d.device.Uninit()
		d.device = nil
		C.free(d.cID)
		d.cID = nil
		if n := d.dropped.Load(); n > 0 && !d.rejected.Load() {
			d.log.Warn("capture frames dropped because encoding lagged", "frames", n)
		}
	}
	if d.closed != nil {
		close(d.closed)
		d.closed = nil
	}
	return nil
}

func (d *micDriver) Properties() []prop.Media { return monoFloat48k() }

func (d *micDriver) AudioRecord(prop.Media) (audio.Reader, error) {
	cfg := malgo.DefaultDeviceConfig(malgo.Capture)
	cfg.Capture.Format = malgo.FormatF32
	cfg.Capture.Channels = 1
	cfg.SampleRate = SampleRate
	cfg.PeriodSizeInMilliseconds = uint32(FrameTime / time.Millisecond)
	var cID unsafe.Pointer
	if d.dev != nil {
		cID = d.dev.raw.Pointer() // C memory: miniaudio keeps the pointer
		cfg.Capture.DeviceID = cID
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	d.frames = make(chan []float32, micQueue)
	d.stopped = make(chan struct{})
	d.stopOnce = &sync.Once{}
	stopped, stopOnce := d.stopped, d.stopOnce
	frames := d.frames
	device, err := malgo.InitDevice(d.mctx.Context, cfg, malgo.DeviceCallbacks{
		Data: func(_, in []byte, n uint32) { d.onData(frames, in, n) },
		Stop: func() {
			if !d.closing.Load() {
				stopOnce.Do(func() { close(stopped) })
			}
		},
	})
	if err != nil {
		C.free(cID)
		return nil, err
	}
	d.start = time.Now()
	if err := device.Start(); err != nil {
		device.Uninit()
		C.free(cID)
		return nil, fmt.Errorf("starting capture: %w", err)
	}
	d.device, d.cID = device, cID
	closed, start := d.closed, d.start
	name := d.describe()

	timer := time.NewTimer(noAudioTimeout)
	timer.Stop()
	return audio.ReaderFunc(func() (wave.Audio, func(), error) {
		timer.Reset(noAudioTimeout)
		defer timer.Stop()
		var frame []float32
		select {
		case frame = <-frames:
		case <-closed:
			return nil, func() {}, io.EOF
		case <-stopped:
			return nil, func() {}, fmt.Errorf("%w: %s stopped (unplugged, or the sound server went away)", ErrUserMedia, name)
		case <-timer.C:
			return nil, func() {}, fmt.Errorf("%w: %s delivered no audio for %s", ErrUserMedia, name, noAudioTimeout)
		}
		el := time.Since(start)
		got := time.Duration(d.captured.Load()) * time.Second / SampleRate
		if tooFast(got, el) {
			d.rejected.Store(true)
			return nil, func() {}, fmt.Errorf("%w: %s delivered %s of audio in %s, %.0f times faster than real time: it is not a working microphone (is a sound server such as PulseAudio running?)",
				ErrUserMedia, name, got.Round(time.Millisecond), el.Round(time.Millisecond), float64(got)/float64(el))
		}
		chunk := wave.NewFloat32Interleaved(wave.ChunkInfo{Channels: 1, Len: frameLen, SamplingRate: SampleRate})
		copy(chunk.Data, frame)
		return chunk, func() {}, nil
	}), nil
}

// tooFast says whether a device that delivered got of audio in el runs
// faster than any sound card: ALSA's null device "captures" silence as
// fast as it is read.
func tooFast(got, el time.Duration) bool {
	return el >= pacingGrace && got > 2*el+pacingSlack
}

// onData runs on the audio thread: it copies the capture buffer (owned by
// miniaudio and reused after the callback returns) into 20 ms frames and
// never blocks.
func (d *micDriver) onData(frames chan<- []float32, in []byte, frameCount uint32) {
	d.captured.Add(int64(frameCount))
	for i := 0; i+4 <= len(in); i += 4 {
		d.pending = append(d.pending, math.Float32frombits(binary.NativeEndian.Uint32(in[i:])))
		if len(d.pending) == frameLen {
			select {
			case frames <- d.pending:
			default:
				d.dropped.Add(1)
			}
			d.pending = make([]float32, 0, frameLen)
		}
	}
}
