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

// samples is how many samples per channel a packet holds at 48 kHz.
func packetSamples(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, fmt.Errorf("%w: empty packet", errOpus)
	}
	n := C.opus_packet_get_nb_samples((*C.uchar)(unsafe.Pointer(&packet[0])), C.opus_int32(len(packet)), C.opus_int32(SampleRate))
	if n < 0 {
		return 0, fmt.Errorf("%w: %s", errOpus, C.GoString(C.opus_strerror(n)))
	}
	return int(n), nil
}

func (d *opusDecoder) close() {
	if d.st != nil {
		C.opus_decoder_destroy(d.st)
		d.st = nil
	}
}
