package call

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/callstat/callstat/pkg/call/audio"
)

// fakeBinding is what pion's RTPSender gives a track when it binds it.
type fakeBinding struct {
	webrtc.TrackLocalContext // methods the track does not call stay nil
	id                       string
	written                  int
}

func (b *fakeBinding) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: audio.OpusCodec, PayloadType: 111}}
}
func (b *fakeBinding) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (b *fakeBinding) SSRC() webrtc.SSRC                                      { return 1234 }
func (b *fakeBinding) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (b *fakeBinding) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (b *fakeBinding) ID() string                                             { return b.id }
func (b *fakeBinding) WriteStream() webrtc.TrackLocalWriter                   { return b }
func (b *fakeBinding) WriteRTP(_ *rtp.Header, payload []byte) (int, error) {
	b.written++
	return len(payload), nil
}
func (b *fakeBinding) Write(p []byte) (int, error) { b.written++; return len(p), nil }

func TestGatedTrackHoldsPacketsUntilOpen(t *testing.T) {
	shared, err := webrtc.NewTrackLocalStaticSample(audio.OpusCodec, "audio", "callstat")
	if err != nil {
		t.Fatal(err)
	}
	first, second := newGatedTrack(shared), newGatedTrack(shared)
	b1, b2 := &fakeBinding{id: "one"}, &fakeBinding{id: "two"}
	for _, bind := range []struct {
		g *gatedTrack
		b *fakeBinding
	}{{first, b1}, {second, b2}} {
		if _, err := bind.g.Bind(bind.b); err != nil {
			t.Fatal(err)
		}
	}
	if first.ID() != "audio" || first.Kind() != webrtc.RTPCodecTypeAudio {
		t.Errorf("wrapper hides the track: id %q kind %v", first.ID(), first.Kind())
	}
	write := func() {
		t.Helper()
		if err := shared.WriteSample(media.Sample{Data: []byte{0xf8, 0xff, 0xfe}, Duration: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}

	write()
	if b1.written != 0 || b2.written != 0 {
		t.Fatalf("packets passed a shut gate: %d, %d", b1.written, b2.written)
	}
	first.open() // one call connected; the other is still setting up
	write()
	write()
	if b1.written != 2 || b2.written != 0 {
		t.Errorf("after opening the first gate: written %d and %d, want 2 and 0", b1.written, b2.written)
	}

	// Unbinding through the wrapper finds the binding: later samples no
	// longer reach it.
	if err := first.Unbind(b1); err != nil {
		t.Fatal(err)
	}
	second.open()
	write()
	if b1.written != 2 || b2.written != 1 {
		t.Errorf("after unbinding the first: written %d and %d, want 2 and 1", b1.written, b2.written)
	}
	if err := first.Unbind(b1); !errors.Is(err, webrtc.ErrUnbindFailed) {
		t.Errorf("second Unbind = %v, want ErrUnbindFailed", err)
	}
}
