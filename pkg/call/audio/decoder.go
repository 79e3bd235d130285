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

// opusDecoder decodes Opus to 48 kHz mono float with libopus, whatever the
// far end sends (stereo is mixed down by libopus).
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
func (d *opusDecoder) decode(packet []byte, pcm []float32) (int, error) {
	var data *C.uchar
	if len(packet) > 0 {
		data = (*C.uchar)(unsafe.Pointer(&packet[0]))
	}
	n := C.opus_decode_float(d.st, data, C.opus_int32(len(packet)),
		(*C.float)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)), 0)
	if n < 0 {
		return 0, fmt.Errorf("%w: %s", errOpus, C.GoString(C.opus_strerror(n)))
	}
	return int(n), nil
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
