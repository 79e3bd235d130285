package audio

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/transport/v5/test"
)

func TestTooFast(t *testing.T) {
	tests := []struct {
		got, el time.Duration
		want    bool
	}{
		{0, 0, false},
		{time.Second, 50 * time.Millisecond, false}, // too early to judge: a first burst
		{400 * time.Millisecond, 100 * time.Millisecond, false},
		{460 * time.Millisecond, 100 * time.Millisecond, true},
		{300 * time.Millisecond, 300 * time.Millisecond, false}, // real time
		{1100 * time.Millisecond, time.Second, false},           // a buffered start
		{116 * time.Second, 100 * time.Millisecond, true},       // ALSA's null device, measured
	}
	for _, tt := range tests {
		if got := tooFast(tt.got, tt.el); got != tt.want {
			t.Errorf("tooFast(%s in %s) = %v, want %v", tt.got, tt.el, got, tt.want)
		}
	}
}

// fakeMic is a capture driver whose reader misbehaves as told.
type fakeMic struct {
	read   func(n int) (wave.Audio, error) // n counts reads from 0
	closed chan struct{}
}

func (d *fakeMic) Open() error              { d.closed = make(chan struct{}); return nil }
func (d *fakeMic) Close() error             { close(d.closed); return nil }
func (d *fakeMic) Properties() []prop.Media { return monoFloat48k() }
func (d *fakeMic) AudioRecord(prop.Media) (audio.Reader, error) {
	var n atomic.Int64
	closed := d.closed
	return audio.ReaderFunc(func() (wave.Audio, func(), error) {
		select {
		case <-closed:
			return nil, func() {}, io.EOF
		default:
		}
		a, err := d.read(int(n.Add(1) - 1))
		return a, func() {}, err
	}), nil
}

func frame() wave.Audio {
	return wave.NewFloat32Interleaved(wave.ChunkInfo{Channels: 1, Len: frameLen, SamplingRate: SampleRate})
}

// realTime paces reads like a sound card, or until closed.
func realTime(closed func() <-chan struct{}) func(int) (wave.Audio, error) {
	start := time.Now()
	return func(n int) (wave.Audio, error) {
		select {
		case <-time.After(time.Until(start.Add(time.Duration(n) * FrameTime))):
		case <-closed():
			return nil, io.EOF
		}
		return frame(), nil
	}
}

// A capture device is probed before Open returns: one that panics (as
// mediadevices' microphone driver does on ALSA's null device), fails, or
// stops is refused with ErrUserMedia; one that works is returned after it
// delivered real-time audio. Nothing hangs or leaks.
func TestOpenProbesCaptureDevices(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	spec := Spec{Kind: KindMic, Device: "fake"}
	tests := []struct {
		name    string
		read    func(d *fakeMic) func(int) (wave.Audio, error)
		wantErr string
	}{
		{
			name: "panics on the first read",
			read: func(*fakeMic) func(int) (wave.Audio, error) {
				return func(int) (wave.Audio, error) { panic("unsupported format") }
			},
			wantErr: "capture driver of fake mic failed: unsupported format",
		},
		{
			name: "panics during the probe",
			read: func(*fakeMic) func(int) (wave.Audio, error) {
				return func(n int) (wave.Audio, error) {
					if n == 3 {
						panic("unsupported format")
					}
					return frame(), nil
				}
			},
			wantErr: "unsupported format",
		},
		{
			name: "fails during the probe",
			read: func(*fakeMic) func(int) (wave.Audio, error) {
				return func(n int) (wave.Audio, error) {
					if n == 5 {
						return nil, errors.New("device unplugged")
					}
					return frame(), nil
				}
			},
			wantErr: "device unplugged",
		},
		{
			name: "ends during the probe",
			read: func(*fakeMic) func(int) (wave.Audio, error) {
				return func(n int) (wave.Audio, error) {
					if n == 5 {
						return nil, io.EOF
					}
					return frame(), nil
				}
			},
			wantErr: "EOF",
		},
		{
			name: "works",
			read: func(d *fakeMic) func(int) (wave.Audio, error) {
				return realTime(func() <-chan struct{} { return d.closed })
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeMic{}
			d.read = tt.read(d)
			start := time.Now()
			src, err := openAdapter(context.Background(), spec, "fake mic", d, nil)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrUserMedia) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrUserMedia saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if el := time.Since(start); el < probeTime {
				t.Errorf("Open returned after %s, before the %s probe", el, probeTime)
			}
			if src.Frames() < uint64(probeFrames) {
				t.Errorf("%d frames encoded when Open returned, want >= %d", src.Frames(), probeFrames)
			}
		})
	}
}

// Cancelling the context stops a probe that is waiting for audio.
func TestOpenProbeCancelled(t *testing.T) {
	report := test.CheckRoutines(t)
	defer report()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &fakeMic{}
	d.read = func(n int) (wave.Audio, error) {
		if n < 2 { // the format probe's frame and the first encoded one
			return frame(), nil
		}
		// A device that stalls: the user gives up while it is probed.
		cancel()
		<-d.closed
		return nil, io.EOF
	}
	_, err := openAdapter(ctx, Spec{Kind: KindMic}, "stalling mic", d, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
