package audio

/*
#cgo pkg-config: opus
#include <opus.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// maxOpusFrame is the longest Opus packet, 120 ms at 48 kHz.
const maxOpusFrame = 5760

var errOpus = errors.New("opus")

// opusDecoder decodes Opus to 48 kHz mono 16-bit PCM with libopus, as
// libwebrtc's NetEq decodes (opus_decode, not opus_decode_float), whatever
// the far end sends (stereo is mixed down by libopus).
type opusDecoder struct {
	st *C.OpusDecoder
}

func newOpusDecoder() (*opusDecoder, error) {
	var cerr C.int
	st := C.opus_decoder_create(C.opus_int32(SampleRate), 1, &cerr)
	if cerr != C.OPUS_OK || st == nil {
		return nil, fmt.Errorf("%w: creating decoder: %s", errOpus, C.GoString(C.opus_strerror(cerr)))
	}
	return &opusDecoder{st: st}, nil
}

// decode decodes one packet into pcm (at least maxOpusFrame long) and
// returns the samples written. A nil packet asks for packet-loss
// concealment of len(pcm) samples, which must be a multiple of 2.5 ms.
func (d *opusDecoder) decode(packet []byte, pcm []int16) (int, error) {
	return d.run(packet, pcm, 0)
}

// decodeFEC decodes the in-band FEC (SILK's LBRR frame) that packet
// carries for the audio just before it, len(pcm) samples (the packet's
// frame length). Without LBRR data libopus conceals instead: check with
// packetHasFEC first.
func (d *opusDecoder) decodeFEC(packet []byte, pcm []int16) (int, error) {
	return d.run(packet, pcm, 1)
}

func (d *opusDecoder) run(packet []byte, pcm []int16, fec C.int) (int, error) {
	var data *C.uchar
	if len(packet) > 0 {
		data = (*C.uchar)(unsafe.Pointer(&packet[0]))
	}
	n := C.opus_decode(d.st, data, C.opus_int32(len(packet)),
		(*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)), fec)
	if n < 0 {
		return 0, fmt.Errorf("%w: %s", errOpus, C.GoString(C.opus_strerror(n)))
	}
	return int(n), nil
}

// packetHasFEC says whether an Opus packet carries in-band FEC for the
// audio before it, as libwebrtc's WebRtcOpus_PacketHasFec reads it: the
// LBRR flag of the first frame's SILK layer. The flags are the first
// symbols of the range coder, coded with probability one half, so they are
// the first bits of the frame's data (RFC 6716, section 4.2.3).
func packetHasFEC(packet []byte) bool {
	if len(packet) < 2 || packet[0]&0x80 != 0 { // CELT-only: no SILK layer
		return false
	}
	var silkFrames int
	switch max(frameSamples(packet[0])/(SampleRate/1000), 10) {
	case 10, 20:
		silkFrames = 1
	case 40:
		silkFrames = 2
	case 60:
		silkFrames = 3
	default:
		return false
	}
	first, ok := firstFrame(packet)
	if !ok {
		return false
	}
	channels := 1
	if packet[0]&0x4 != 0 {
		channels = 2
	}
	for n := 0; n < channels; n++ {
		if first&(0x80>>((n+1)*(silkFrames+1)-1)) != 0 {
			return true
		}
	}
	return false
}

// firstFrame returns the first byte of a packet's first frame (RFC 6716,
// section 3.2), or false when that frame is empty or the packet malformed.
func firstFrame(packet []byte) (byte, bool) {
	off := 1
	switch packet[0] & 0x3 {
	case 2: // the first frame's length, then the frame
		n, size, ok := frameLength(packet[1:])
		if !ok || size == 0 {
			return 0, false
		}
		off += n
	case 3:
		if len(packet) < 2 {
			return 0, false
		}
		count := packet[1]
		off++
		if count&0x40 != 0 { // padding length: 255 means 254 more and another byte
			for {
				if off >= len(packet) {
					return 0, false
				}
				b := packet[off]
				off++
				if b != 255 {
					break
				}
			}
		}
		if count&0x80 != 0 && count&0x3f > 1 { // VBR: the lengths of all frames but the last
			n, size, ok := frameLength(packet[off:])
			if !ok || size == 0 {
				return 0, false
			}
			off += n
			for i := 2; i < int(count&0x3f); i++ {
				n, _, ok := frameLength(packet[off:])
				if !ok {
					return 0, false
				}
				off += n
			}
		}
	}
	if off >= len(packet) {
		return 0, false
	}
	return packet[off], true
}

// frameLength reads one frame length (one byte below 252, else two) and
// returns the bytes it took and the length.
func frameLength(b []byte) (n, size int, ok bool) {
	switch {
	case len(b) == 0:
		return 0, 0, false
	case b[0] < 252:
		return 1, int(b[0]), true
	case len(b) < 2:
		return 0, 0, false
	default:
		return 2, 4*int(b[1]) + int(b[0]), true
	}
}

// packetSamples is how many samples per channel an Opus packet holds at
// 48 kHz, from its table-of-contents byte and frame count (RFC 6716,
// section 3.1), as libopus' opus_packet_get_nb_samples reads them: Go,
// not cgo, because a call that does not decode asks it of every packet.
func packetSamples(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, fmt.Errorf("%w: empty packet", errOpus)
	}
	toc := packet[0]
	var frames int
	switch toc & 0x3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	default:
		if len(packet) < 2 {
			return 0, fmt.Errorf("%w: invalid packet: no frame count", errOpus)
		}
		frames = int(packet[1] & 0x3f)
	}
	n := frames * frameSamples(toc)
	if frames == 0 || n > maxOpusFrame {
		return 0, fmt.Errorf("%w: invalid packet: %d frames of %d samples", errOpus, frames, frameSamples(toc))
	}
	return n, nil
}

// frameSamples is the length of each frame of a packet at 48 kHz, from its
// configuration number (the TOC byte's top five bits).
func frameSamples(toc byte) int {
	config := toc >> 3
	switch {
	case config >= 16: // CELT-only: 2.5, 5, 10, 20 ms
		return 120 << (config & 0x3)
	case config >= 12: // hybrid: 10, 20 ms
		return 480 << (config & 0x1)
	case config&0x3 == 3: // SILK-only: 60 ms
		return 2880
	default: // SILK-only: 10, 20, 40 ms
		return 480 << (config & 0x3)
	}
}

func (d *opusDecoder) close() {
	if d.st != nil {
		C.opus_decoder_destroy(d.st)
		d.st = nil
	}
}
