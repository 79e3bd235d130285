package audio

/*
#cgo pkg-config: opus
#include <opus.h>

static int callstat_encoder_setup(OpusEncoder *e, opus_int32 bitrate, int fec, int loss) {
	int err = opus_encoder_ctl(e, OPUS_SET_BITRATE(bitrate));
	if (err == OPUS_OK) err = opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(fec));
	if (err == OPUS_OK) err = opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(loss));
	return err;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// opusEncoder encodes 48 kHz mono 16-bit PCM as a browser's libwebrtc
// does for a far end that asked for useinbandfec=1: VoIP mode, in-band FEC
// on with an expected loss. callstat's own source encodes through
// mediadevices, without FEC; this one makes the packets a browser sends,
// for the playout path's tests and benchmarks.
type opusEncoder struct {
	st *C.OpusEncoder
}

func newOpusEncoder(bitrate int, fec bool, lossPercent int) (*opusEncoder, error) {
	var cerr C.int
	st := C.opus_encoder_create(C.opus_int32(SampleRate), 1, C.OPUS_APPLICATION_VOIP, &cerr)
	if cerr != C.OPUS_OK || st == nil {
		return nil, fmt.Errorf("%w: creating encoder: %s", errOpus, C.GoString(C.opus_strerror(cerr)))
	}
	f := C.int(0)
	if fec {
		f = 1
	}
	if e := C.callstat_encoder_setup(st, C.opus_int32(bitrate), f, C.int(lossPercent)); e != C.OPUS_OK {
		C.opus_encoder_destroy(st)
		return nil, fmt.Errorf("%w: configuring encoder: %s", errOpus, C.GoString(C.opus_strerror(e)))
	}
	return &opusEncoder{st: st}, nil
}

// encode encodes one frame (2.5 to 60 ms of samples) and returns a new
// packet.
func (e *opusEncoder) encode(pcm []int16) ([]byte, error) {
	out := make([]byte, 1500)
	n := C.opus_encode(e.st, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)),
		(*C.uchar)(unsafe.Pointer(&out[0])), C.opus_int32(len(out)))
	if n < 0 {
		return nil, fmt.Errorf("%w: %s", errOpus, C.GoString(C.opus_strerror(n)))
	}
	return out[:n], nil
}

func (e *opusEncoder) close() {
	if e.st != nil {
		C.opus_encoder_destroy(e.st)
		e.st = nil
	}
}
