package audio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// ErrUserMedia means the local audio could not be captured or encoded
// (the SDK's call:4 USER_MEDIA_ERROR).
var ErrUserMedia = errors.New("USER_MEDIA_ERROR (call:4)")

// OpusCodec is the only codec callstat negotiates.
var OpusCodec = webrtc.RTPCodecCapability{
	MimeType:    webrtc.MimeTypeOpus,
	ClockRate:   48000,
	Channels:    2,
	SDPFmtpLine: "minptime=10;useinbandfec=1",
}

// OpusPayloadType is the payload type callstat offers for Opus, as browsers do.
const OpusPayloadType = 111

// A capture device must prove itself before any call is placed: it has to
// deliver probeTime of audio, paced like a real device (the capture driver
// rejects one that runs much faster than real time).
const (
	probeTime   = 300 * time.Millisecond
	probeFrames = int(probeTime / FrameTime)
)

// Source captures one audio input through mediadevices, encodes it to Opus
// once, and writes every frame to a single pion track that any number of
// calls can send. Sharing the encoder keeps the cost per call to packetising
// and encrypting.
//
// mediadevices' own tracks are never bound to a PeerConnection, which keeps
// its Unbind (known to block on connections that never connected) out of
// every call's teardown.
type Source struct {
	spec  Spec
	name  string // what is captured, for logs and errors
	log   *slog.Logger
	track *webrtc.TrackLocalStaticSample

	mdTrack  mediadevices.Track
	reader   mediadevices.EncodedReadCloser
	driverID string
	release  func() // frees what the driver needs beyond its own Close

	mu    sync.Mutex
	level levelMeter // the PCM handed to the encoder (media-source stats)

	opened    time.Time
	frames    atomic.Uint64
	ready     chan struct{} // closed once probeTime of audio was encoded
	readyOnce sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	err       error // why pump stopped early; read after done
}

// SourceStats are the W3C media-source audio fields of a source.
type SourceStats struct {
	AudioLevel           float64
	TotalAudioEnergy     float64
	TotalSamplesDuration float64

	meter levelMeter // the totals, counted
}

// Since returns the totals accumulated after base was taken (audioLevel
// stays current): the media-source of one call, whose track was attached
// when base was taken, on a source shared by every call.
func (s SourceStats) Since(base SourceStats) SourceStats {
	m := levelMeter{frames: s.meter.frames - base.meter.frames, sumSq: s.meter.sumSq - base.meter.sumSq}
	return SourceStats{AudioLevel: s.AudioLevel, TotalAudioEnergy: m.energy(), TotalSamplesDuration: m.duration(), meter: m}
}

// Open starts capturing and encoding spec. A microphone is probed first:
// Open returns only once it has delivered real-time audio, or an error
// wrapping ErrUserMedia. A WAV file that cannot be played gives an error
// wrapping both ErrUserMedia and ErrBadWAV. The returned source runs until
// Close.
func Open(ctx context.Context, spec Spec, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		adapter driver.Adapter
		name    = spec.String()
		release = func() {}
	)
	switch spec.Kind {
	case KindTone:
		adapter = &genDriver{gen: newSine(spec.Hz)}
	case KindSilence:
		adapter = &genDriver{gen: silence{}}
	case KindFile:
		samples, info, err := LoadWAV(spec.Path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUserMedia, err)
		}
		log.Info("playing audio file in a loop", "file", spec.Path, "format", info.String())
		adapter = &genDriver{gen: &loop{samples: samples}}
	case KindMic:
		mic, err := openMic(spec.Device, log)
		if err != nil {
			return nil, err
		}
		adapter, name, release = mic, mic.describe(), mic.free
	default:
		return nil, fmt.Errorf("%w: unsupported source %q", ErrBadSpec, spec)
	}
	src, err := openAdapter(ctx, spec, name, adapter, log)
	if err != nil {
		release()
		return nil, err
	}
	src.release = release
	if spec.Kind == KindMic {
		log.Info("capturing microphone", "device", name)
	}
	return src, nil
}

// openAdapter registers adapter with mediadevices' driver manager, opens it
// through GetUserMedia and starts encoding. Capture devices (anything but
// the synthetic drivers, whose pacing callstat controls) are probed.
func openAdapter(ctx context.Context, spec Spec, name string, adapter driver.Adapter, log *slog.Logger) (*Source, error) {
	// mediadevices replaces the label's id with a generated one: register
	// under a unique label, then look the driver up to learn its id.
	label := "callstat-" + string(spec.Kind) + "-" + uuid.NewString()
	if err := driver.GetManager().Register(adapter, driver.Info{
		Label: label, DeviceType: driver.Microphone, Name: name,
	}); err != nil {
		return nil, fmt.Errorf("%w: registering %s driver: %v", ErrUserMedia, name, err)
	}
	var driverID string
	for _, d := range driver.GetManager().Query(driver.FilterDeviceType(driver.Microphone)) {
		if d.Info().Label == label {
			driverID = d.ID()
		}
	}
	src, err := startSource(spec, name, driverID, log)
	if err != nil {
		driver.GetManager().Delete(driverID)
		return nil, err
	}
	src.driverID = driverID
	if _, synthetic := adapter.(*genDriver); synthetic {
		return src, nil
	}
	select {
	case <-src.ready:
		return src, nil
	case <-src.done:
		err = src.err
		if err == nil {
			err = fmt.Errorf("%w: %s stopped before delivering audio", ErrUserMedia, name)
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	src.closeCapture()
	return nil, err
}

var getUserMedia sync.Mutex

func startSource(spec Spec, name, driverID string, log *slog.Logger) (*Source, error) {
	params, err := opus.NewParams()
	if err != nil {
		return nil, fmt.Errorf("%w: opus parameters: %v", ErrUserMedia, err)
	}
	params.BitRate = opusBitRate
	selector := mediadevices.NewCodecSelector(mediadevices.WithAudioEncoders(&params))
	// mediadevices keeps its drivers' state in globals that GetUserMedia
	// reads and writes unguarded: two softphones of one process (load
	// agents in a test) must not open at once.
	getUserMedia.Lock()
	stream, err := mediadevices.GetUserMedia(mediadevices.MediaStreamConstraints{
		Audio: func(c *mediadevices.MediaTrackConstraints) {
			c.DeviceID = prop.StringExact(driverID)
		},
		Codec: selector,
	})
	getUserMedia.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%w: opening %s: %v", ErrUserMedia, name, err)
	}
	tracks := stream.GetAudioTracks()
	at, ok := firstAudioTrack(tracks)
	if !ok {
		for _, t := range stream.GetTracks() {
			_ = t.Close()
		}
		return nil, fmt.Errorf("%w: %s gave %d audio tracks", ErrUserMedia, name, len(tracks))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Source{
		spec:    spec,
		name:    name,
		log:     log,
		mdTrack: at,
		release: func() {},
		opened:  time.Now(),
		ready:   make(chan struct{}),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	at.Transform(s.measure)
	// NewEncodedReader reads the first chunk to learn the format, so a
	// driver that fails fails here.
	reader, err := at.NewEncodedReader(webrtc.MimeTypeOpus)
	if err != nil {
		cancel()
		_ = at.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrUserMedia, name, err)
	}
	// A UUID, as browsers make them: the far end sees it in our SDP, and
	// two calling processes must not name their tracks alike, or a report
	// narrowed to one track would find both.
	track, err := webrtc.NewTrackLocalStaticSample(OpusCodec, uuid.NewString(), "callstat-"+string(spec.Kind))
	if err != nil {
		cancel()
		_ = reader.Close()
		_ = at.Close()
		return nil, fmt.Errorf("%w: %v", ErrUserMedia, err)
	}
	s.reader, s.track = reader, track
	go s.pump(ctx)
	return s, nil
}

func firstAudioTrack(tracks []mediadevices.Track) (*mediadevices.AudioTrack, bool) {
	if len(tracks) != 1 {
		return nil, false
	}
	at, ok := tracks[0].(*mediadevices.AudioTrack)
	return at, ok
}

// measure is a mediadevices audio transform between the driver and the
// encoder: it feeds the media-source level meter, and turns a driver panic
// (mediadevices' own microphone driver panics on formats it cannot decode)
// into an error, so that a broken device ends the source instead of the
// process.
func (s *Source) measure(r audio.Reader) audio.Reader {
	return audio.ReaderFunc(func() (chunk wave.Audio, release func(), err error) {
		defer func() {
			if p := recover(); p != nil {
				chunk, release = nil, func() {}
				err = fmt.Errorf("%w: capture driver of %s failed: %v", ErrUserMedia, s.name, p)
			}
		}()
		chunk, release, err = r.Read()
		if err == nil && chunk != nil {
			s.mu.Lock()
			s.level.addFloat(monoSamples(chunk))
			s.mu.Unlock()
		}
		return chunk, release, err
	})
}

// monoSamples returns a chunk's audio as mono float samples.
func monoSamples(chunk wave.Audio) []float32 {
	info := chunk.ChunkInfo()
	if f, ok := chunk.(*wave.Float32Interleaved); ok && info.Channels == 1 {
		return f.Data[:info.Len]
	}
	out := make([]float32, info.Len)
	if info.Channels == 0 {
		return out
	}
	for i := range out {
		var sum float32
		for c := 0; c < info.Channels; c++ {
			switch a := chunk.(type) {
			case *wave.Float32Interleaved:
				sum += a.Data[i*info.Channels+c]
			case *wave.Int16Interleaved:
				sum += float32(a.Data[i*info.Channels+c]) / (1 << 15)
			}
		}
		out[i] = sum / float32(info.Channels)
	}
	return out
}

// pump moves encoded frames from mediadevices to the shared track.
func (s *Source) pump(ctx context.Context) {
	defer close(s.done)
	for {
		buf, release, err := s.reader.Read()
		if err != nil {
			if ctx.Err() == nil {
				if !errors.Is(err, ErrUserMedia) {
					err = fmt.Errorf("%w: reading %s: %v", ErrUserMedia, s.name, err)
				}
				s.err = err
				select {
				case <-s.ready:
					s.log.Error("audio source stopped", "source", s.name, "err", err)
				default: // still being probed: Open returns the error
				}
			}
			return
		}
		werr := s.track.WriteSample(media.Sample{Data: buf.Data, Duration: FrameTime})
		release()
		if werr != nil && ctx.Err() == nil {
			s.log.Debug("writing audio frame", "err", werr)
		}
		if n := s.frames.Add(1); n >= uint64(probeFrames) && time.Since(s.opened) >= probeTime {
			s.readyOnce.Do(func() { close(s.ready) })
		}
	}
}

// Track is the pion track every call adds to its PeerConnection.
func (s *Source) Track() *webrtc.TrackLocalStaticSample { return s.track }

// opusBitRate is the Opus encoder's target bitrate, bits/s.
const opusBitRate = 32000

// TargetBitrate is the encoder's target bitrate in bits/s (the W3C
// outbound-rtp.targetBitrate).
func (s *Source) TargetBitrate() int { return opusBitRate }

// Spec is what this source plays.
func (s *Source) Spec() Spec { return s.spec }

// Name describes what is captured: the spec, or the microphone's name.
func (s *Source) Name() string { return s.name }

// Frames counts the 20 ms frames encoded so far.
func (s *Source) Frames() uint64 { return s.frames.Load() }

// Stats are the media-source figures of everything captured so far.
func (s *Source) Stats() SourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SourceStats{
		AudioLevel:           s.level.audioLevel(),
		TotalAudioEnergy:     s.level.energy(),
		TotalSamplesDuration: s.level.duration(),
		meter:                levelMeter{frames: s.level.frames, sumSq: s.level.sumSq},
	}
}

// Close stops capture and waits for the encoder loop.
func (s *Source) Close() error {
	s.closeOnce.Do(s.closeCapture)
	return nil
}

func (s *Source) closeCapture() {
	s.cancel()
	// Closing the mediadevices track closes the driver, whose reader then
	// returns EOF, which ends pump.
	_ = s.mdTrack.Close()
	<-s.done
	_ = s.reader.Close()
	driver.GetManager().Delete(s.driverID)
	s.release()
}
