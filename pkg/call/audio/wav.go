package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// ErrBadWAV means a file given to --audio file: cannot be played: missing,
// unreadable, not a WAV file, an encoding other than PCM or float, or
// truncated.
var ErrBadWAV = errors.New("unusable WAV file")

// WAV limits. Files are decoded into memory once and looped, so their size
// is bounded; a clip of a few seconds to minutes is what a call needs.
const (
	maxWAVBytes   = 256 << 20
	minWAVRate    = 8000
	maxWAVRate    = 192000
	maxWAVChannel = 8
)

// WAV format codes.
const (
	wavPCM        = 1
	wavFloat      = 3
	wavExtensible = 0xFFFE
)

// WAVInfo describes a decoded WAV file.
type WAVInfo struct {
	SampleRate    int
	Channels      int
	BitsPerSample int
	Float         bool
	Frames        int // samples per channel
}

// Duration is the length of the audio.
func (i WAVInfo) Duration() float64 { return float64(i.Frames) / float64(i.SampleRate) }

func (i WAVInfo) String() string {
	enc := "PCM"
	if i.Float {
		enc = "float"
	}
	return fmt.Sprintf("%d-bit %s, %d ch, %d Hz, %.2f s", i.BitsPerSample, enc, i.Channels, i.SampleRate, i.Duration())
}

// LoadWAV reads a WAV file and returns its audio as 48 kHz mono, the
// format every source hands the Opus encoder: channels are averaged and the
// sample rate converted with a windowed-sinc resampler.
func LoadWAV(path string) ([]float32, WAVInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, WAVInfo{}, fmt.Errorf("%w: %v", ErrBadWAV, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, WAVInfo{}, fmt.Errorf("%w: %v", ErrBadWAV, err)
	}
	if !st.Mode().IsRegular() {
		return nil, WAVInfo{}, fmt.Errorf("%w: %s is not a regular file", ErrBadWAV, path)
	}
	if st.Size() > maxWAVBytes {
		return nil, WAVInfo{}, fmt.Errorf("%w: %s is %d MiB; the limit is %d MiB (the file is looped, a short clip is enough)",
			ErrBadWAV, path, st.Size()>>20, maxWAVBytes>>20)
	}
	mono, info, err := DecodeWAV(bufio.NewReader(f))
	if err != nil {
		return nil, WAVInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	return resample(mono, info.SampleRate, SampleRate), info, nil
}

// DecodeWAV decodes a RIFF/WAVE stream of integer PCM (8, 16, 24 or 32
// bits) or IEEE float (32 or 64 bits) and returns it mixed down to mono at
// its own sample rate. Errors wrap ErrBadWAV.
func DecodeWAV(r io.Reader) ([]float32, WAVInfo, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, WAVInfo{}, fmt.Errorf("%w: not a WAV file (%d-byte header missing)", ErrBadWAV, len(hdr))
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, WAVInfo{}, fmt.Errorf("%w: not a WAV file (no RIFF/WAVE header)", ErrBadWAV)
	}
	var (
		info   WAVInfo
		format uint16
		haveFm bool
	)
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if !haveFm {
				return nil, WAVInfo{}, fmt.Errorf("%w: no fmt chunk", ErrBadWAV)
			}
			return nil, WAVInfo{}, fmt.Errorf("%w: no data chunk", ErrBadWAV)
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, WAVInfo{}, fmt.Errorf("%w: fmt chunk of %d bytes", ErrBadWAV, size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, WAVInfo{}, fmt.Errorf("%w: truncated fmt chunk", ErrBadWAV)
			}
			var err error
			info, format, err = parseFmt(b[:size])
			if err != nil {
				return nil, WAVInfo{}, err
			}
			haveFm = true
		case "data":
			if !haveFm {
				return nil, WAVInfo{}, fmt.Errorf("%w: data chunk before the fmt chunk", ErrBadWAV)
			}
			return readData(r, size, info, format)
		default:
			// Skip LIST, fact, cue and any other chunk.
			if _, err := io.CopyN(io.Discard, r, int64(size)+int64(size%2)); err != nil {
				return nil, WAVInfo{}, fmt.Errorf("%w: truncated %q chunk", ErrBadWAV, id)
			}
		}
	}
}

func parseFmt(b []byte) (WAVInfo, uint16, error) {
	format := binary.LittleEndian.Uint16(b[0:2])
	channels := int(binary.LittleEndian.Uint16(b[2:4]))
	rate := int(binary.LittleEndian.Uint32(b[4:8]))
	blockAlign := int(binary.LittleEndian.Uint16(b[12:14]))
	bits := int(binary.LittleEndian.Uint16(b[14:16]))
	if format == wavExtensible {
		if len(b) < 40 {
			return WAVInfo{}, 0, fmt.Errorf("%w: extensible fmt chunk of %d bytes, want 40", ErrBadWAV, len(b))
		}
		// The sub-format GUID starts with the plain format code.
		format = binary.LittleEndian.Uint16(b[24:26])
	}
	info := WAVInfo{SampleRate: rate, Channels: channels, BitsPerSample: bits, Float: format == wavFloat}
	switch {
	case format != wavPCM && format != wavFloat:
		return WAVInfo{}, 0, fmt.Errorf("%w: encoding %#x is not supported; use PCM (8, 16, 24 or 32-bit) or 32/64-bit float", ErrBadWAV, format)
	case format == wavPCM && bits != 8 && bits != 16 && bits != 24 && bits != 32:
		return WAVInfo{}, 0, fmt.Errorf("%w: %d-bit PCM is not supported; use 8, 16, 24 or 32 bits", ErrBadWAV, bits)
	case format == wavFloat && bits != 32 && bits != 64:
		return WAVInfo{}, 0, fmt.Errorf("%w: %d-bit float is not supported; use 32 or 64 bits", ErrBadWAV, bits)
	case channels < 1 || channels > maxWAVChannel:
		return WAVInfo{}, 0, fmt.Errorf("%w: %d channels; 1 to %d are supported", ErrBadWAV, channels, maxWAVChannel)
	case rate < minWAVRate || rate > maxWAVRate:
		return WAVInfo{}, 0, fmt.Errorf("%w: sample rate %d Hz; %d to %d Hz are supported", ErrBadWAV, rate, minWAVRate, maxWAVRate)
	case blockAlign != channels*bits/8:
		return WAVInfo{}, 0, fmt.Errorf("%w: block align %d does not match %d channels of %d bits", ErrBadWAV, blockAlign, channels, bits)
	}
	return info, format, nil
}

// readData decodes the data chunk. A size of 0xFFFFFFFF (written by
// streaming recorders that never went back to fix the header) means "to the
// end of the file"; any other size must be present in full.
func readData(r io.Reader, size uint32, info WAVInfo, format uint16) ([]float32, WAVInfo, error) {
	var data []byte
	var err error
	if size == math.MaxUint32 {
		data, err = io.ReadAll(io.LimitReader(r, maxWAVBytes))
	} else {
		if size > maxWAVBytes {
			return nil, WAVInfo{}, fmt.Errorf("%w: data chunk of %d bytes exceeds the %d MiB limit", ErrBadWAV, size, maxWAVBytes>>20)
		}
		// Read what is there rather than allocating the declared size:
		// a corrupt header must not cost memory it does not back.
		data, err = io.ReadAll(io.LimitReader(r, int64(size)))
		if err == nil && len(data) < int(size) {
			return nil, WAVInfo{}, fmt.Errorf("%w: truncated: the data chunk declares %d bytes but only %d follow", ErrBadWAV, size, len(data))
		}
	}
	if err != nil {
		return nil, WAVInfo{}, fmt.Errorf("%w: reading audio: %v", ErrBadWAV, err)
	}
	width := info.BitsPerSample / 8
	block := width * info.Channels
	frames := len(data) / block
	if frames == 0 {
		return nil, WAVInfo{}, fmt.Errorf("%w: no audio in the data chunk", ErrBadWAV)
	}
	info.Frames = frames
	sample := sampleDecoder(format, info.BitsPerSample)
	mono := make([]float32, frames)
	scale := 1 / float64(info.Channels)
	for i := range mono {
		var sum float64
		for c := 0; c < info.Channels; c++ {
			off := i*block + c*width
			sum += sample(data[off : off+width])
		}
		mono[i] = float32(sum * scale)
	}
	return mono, info, nil
}

// sampleDecoder returns the function that converts one little-endian sample
// to full scale ±1.
func sampleDecoder(format uint16, bits int) func([]byte) float64 {
	if format == wavFloat {
		if bits == 64 {
			return func(b []byte) float64 { return clampNaN(math.Float64frombits(binary.LittleEndian.Uint64(b))) }
		}
		return func(b []byte) float64 {
			return clampNaN(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
		}
	}
	switch bits {
	case 8: // unsigned, 128 is zero
		return func(b []byte) float64 { return (float64(b[0]) - 128) / 128 }
	case 16:
		return func(b []byte) float64 { return float64(int16(binary.LittleEndian.Uint16(b))) / (1 << 15) }
	case 24:
		return func(b []byte) float64 {
			v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
			return float64(v) / (1 << 23)
		}
	default:
		return func(b []byte) float64 { return float64(int32(binary.LittleEndian.Uint32(b))) / (1 << 31) }
	}
}

// clampNaN keeps float files from feeding NaN or out-of-range values to
// the encoder.
func clampNaN(v float64) float64 {
	switch {
	case math.IsNaN(v):
		return 0
	case v > 1:
		return 1
	case v < -1:
		return -1
	}
	return v
}

// WAVWriter writes 48 kHz mono 16-bit PCM, the format of --record files.
// The header's sizes are fixed up by Close; a file cut short by a crash
// still plays in most tools, which read to the end of the file.
type WAVWriter struct {
	f     *os.File
	w     *bufio.Writer
	bytes int64
	buf   []byte
	err   error
}

// wavDataLimit keeps the RIFF sizes within 32 bits: about 12 hours.
const wavDataLimit = math.MaxUint32 - 36

// CreateWAV creates (or truncates) path and writes a WAV header.
func CreateWAV(path string) (*WAVWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &WAVWriter{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	if _, err := w.w.Write(wavHeader(SampleRate, 1, 16, 0)); err != nil {
		_ = f.Close()
		return nil, err
	}
	return w, nil
}

// Path is the file being written.
func (w *WAVWriter) Path() string { return w.f.Name() }

// Write appends samples (full scale ±1), clipping to 16 bits. After the
// first error every write fails with it.
func (w *WAVWriter) Write(samples []float32) error {
	if w.err != nil {
		return w.err
	}
	if w.bytes+int64(2*len(samples)) > wavDataLimit {
		w.err = fmt.Errorf("recording %s reached the WAV size limit (4 GiB)", w.f.Name())
		return w.err
	}
	w.buf = w.buf[:0]
	for _, s := range samples {
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(toInt16(s)))
	}
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = err
		return err
	}
	w.bytes += int64(len(w.buf))
	return nil
}

// Close flushes, writes the final sizes into the header and closes the
// file. It returns the first error of the whole recording.
func (w *WAVWriter) Close() error {
	err := w.err
	if ferr := w.w.Flush(); err == nil {
		err = ferr
	}
	if err == nil {
		_, err = w.f.WriteAt(wavHeader(SampleRate, 1, 16, uint32(w.bytes)), 0)
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func toInt16(s float32) int16 {
	v := math.Round(float64(s) * (1 << 15))
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	case math.IsNaN(v):
		return 0
	}
	return int16(v)
}

// wavHeader is the 44-byte header of a plain PCM WAV file.
func wavHeader(rate, channels, bits int, dataBytes uint32) []byte {
	b := make([]byte, 0, 44)
	b = append(b, "RIFF"...)
	b = binary.LittleEndian.AppendUint32(b, 36+dataBytes)
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, wavPCM)
	b = binary.LittleEndian.AppendUint16(b, uint16(channels))
	b = binary.LittleEndian.AppendUint32(b, uint32(rate))
	b = binary.LittleEndian.AppendUint32(b, uint32(rate*channels*bits/8))
	b = binary.LittleEndian.AppendUint16(b, uint16(channels*bits/8))
	b = binary.LittleEndian.AppendUint16(b, uint16(bits))
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, dataBytes)
	return b
}
