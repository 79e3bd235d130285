package audio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// ErrUserMedia means the local audio could not be captured or encoded
// (the SDK's call:4 USER_MEDIA_ERROR).
var ErrUserMedia = errors.New("user media error")

// OpusCodec is the only codec callstat negotiates.
var OpusCodec = webrtc.RTPCodecCapability{
	MimeType:    webrtc.MimeTypeOpus,
	ClockRate:   48000,
	Channels:    2,
	SDPFmtpLine: "minptime=10;useinbandfec=1",
}

// OpusPayloadType is the payload type callstat offers for Opus, as browsers do.
const OpusPayloadType = 111

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
	log   *slog.Logger
	track *webrtc.TrackLocalStaticSample

	mdTrack  mediadevices.Track
	reader   mediadevices.EncodedReadCloser
	driverID string

	frames    atomic.Uint64
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	err       error
}

// Open starts capturing and encoding spec. The returned source runs until
// Close.
func Open(spec Spec, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var adapter driver.Adapter
	switch spec.Kind {
	case KindTone:
		adapter = &synthDriver{hz: spec.Hz}
	case KindSilence:
		adapter = &synthDriver{}
	default:
		return nil, fmt.Errorf("%w: unsupported source %q", ErrBadSpec, spec)
	}

	// mediadevices replaces the label's id with a generated one: register
	// under a unique label, then look the driver up to learn its id.
	label := "callstat-" + string(spec.Kind) + "-" + uuid.NewString()
	if err := driver.GetManager().Register(adapter, driver.Info{
		Label: label, DeviceType: driver.Microphone, Name: spec.String(),
	}); err != nil {
		return nil, fmt.Errorf("%w: registering %s driver: %v", ErrUserMedia, spec, err)
	}
	var driverID string
	for _, d := range driver.GetManager().Query(driver.FilterDeviceType(driver.Microphone)) {
		if d.Info().Label == label {
			driverID = d.ID()
		}
	}
	src, err := openDriver(spec, driverID, log)
	if err != nil {
		driver.GetManager().Delete(driverID)
		return nil, err
	}
	src.driverID = driverID
	return src, nil
}

func openDriver(spec Spec, driverID string, log *slog.Logger) (*Source, error) {
	params, err := opus.NewParams()
	if err != nil {
		return nil, fmt.Errorf("%w: opus parameters: %v", ErrUserMedia, err)
	}
	params.BitRate = opusBitRate
	selector := mediadevices.NewCodecSelector(mediadevices.WithAudioEncoders(&params))
	stream, err := mediadevices.GetUserMedia(mediadevices.MediaStreamConstraints{
		Audio: func(c *mediadevices.MediaTrackConstraints) {
			c.DeviceID = prop.StringExact(driverID)
		},
		Codec: selector,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: opening %s: %v", ErrUserMedia, spec, err)
	}
	tracks := stream.GetAudioTracks()
	if len(tracks) != 1 {
		for _, t := range stream.GetTracks() {
			_ = t.Close()
		}
		return nil, fmt.Errorf("%w: %s gave %d audio tracks", ErrUserMedia, spec, len(tracks))
	}
	mdTrack := tracks[0]
	reader, err := mdTrack.NewEncodedReader(webrtc.MimeTypeOpus)
	if err != nil {
		_ = mdTrack.Close()
		return nil, fmt.Errorf("%w: opus encoder for %s: %v", ErrUserMedia, spec, err)
	}
	// A UUID, as browsers make them: the far end sees it in our SDP, and
	// two calling processes must not name their tracks alike, or a report
	// narrowed to one track would find both.
	track, err := webrtc.NewTrackLocalStaticSample(OpusCodec, uuid.NewString(), "callstat-"+string(spec.Kind))
	if err != nil {
		_ = reader.Close()
		_ = mdTrack.Close()
		return nil, fmt.Errorf("%w: %v", ErrUserMedia, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Source{
		spec:    spec,
		log:     log,
		track:   track,
		mdTrack: mdTrack,
		reader:  reader,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go s.pump(ctx)
	return s, nil
}

// pump moves encoded frames from mediadevices to the shared track.
func (s *Source) pump(ctx context.Context) {
	defer close(s.done)
	for {
		buf, release, err := s.reader.Read()
		if err != nil {
			if ctx.Err() == nil {
				s.err = fmt.Errorf("%w: reading %s: %v", ErrUserMedia, s.spec, err)
				s.log.Error("audio source stopped", "source", s.spec.String(), "err", err)
			}
			return
		}
		werr := s.track.WriteSample(media.Sample{Data: buf.Data, Duration: FrameTime})
		release()
		if werr != nil && ctx.Err() == nil {
			s.log.Debug("writing audio frame", "err", werr)
		}
		s.frames.Add(1)
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

// Frames counts the 20 ms frames encoded so far.
func (s *Source) Frames() uint64 { return s.frames.Load() }

// Close stops capture and waits for the encoder loop.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		// Closing the mediadevices track closes the driver, whose reader then
		// returns EOF, which ends pump.
		_ = s.mdTrack.Close()
		<-s.done
		_ = s.reader.Close()
		driver.GetManager().Delete(s.driverID)
	})
	return nil
}
