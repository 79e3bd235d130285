package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstat/callstat/internal/testkit/testdata"
)

var update = flag.Bool("update", false, "rewrite the generated fixtures in testdata/audio")

// wavFormat describes a WAV file for makeWAV.
type wavFormat struct {
	rate, channels, bits int
	float                bool
	extensible           bool
}

func (f wavFormat) String() string {
	enc := "pcm"
	if f.float {
		enc = "float"
	}
	if f.extensible {
		enc += "-ext"
	}
	return fmt.Sprintf("%d-bit-%s-%dch-%dHz", f.bits, enc, f.channels, f.rate)
}

// makeWAV encodes frames of audio given by gen (full scale ±1), the
// inverse of DecodeWAV, written independently of it.
func makeWAV(f wavFormat, frames int, gen func(i, ch int) float64) []byte {
	var data []byte
	for i := 0; i < frames; i++ {
		for c := 0; c < f.channels; c++ {
			v := gen(i, c)
			switch {
			case f.float && f.bits == 32:
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(v)))
			case f.float:
				data = binary.LittleEndian.AppendUint64(data, math.Float64bits(v))
			case f.bits == 8:
				data = append(data, byte(int(math.Round(v*127))+128))
			case f.bits == 16:
				data = binary.LittleEndian.AppendUint16(data, uint16(int16(math.Round(v*32767))))
			case f.bits == 24:
				x := int32(math.Round(v * 8388607))
				data = append(data, byte(x), byte(x>>8), byte(x>>16))
			default:
				data = binary.LittleEndian.AppendUint32(data, uint32(int32(math.Round(v*2147483647))))
			}
		}
	}
	code := uint16(wavPCM)
	if f.float {
		code = wavFloat
	}
	var fm []byte
	fm = binary.LittleEndian.AppendUint16(fm, code)
	if f.extensible {
		fm[0], fm[1] = 0xFE, 0xFF
	}
	fm = binary.LittleEndian.AppendUint16(fm, uint16(f.channels))
	fm = binary.LittleEndian.AppendUint32(fm, uint32(f.rate))
	fm = binary.LittleEndian.AppendUint32(fm, uint32(f.rate*f.channels*f.bits/8))
	fm = binary.LittleEndian.AppendUint16(fm, uint16(f.channels*f.bits/8))
	fm = binary.LittleEndian.AppendUint16(fm, uint16(f.bits))
	if f.extensible {
		fm = binary.LittleEndian.AppendUint16(fm, 22)
		fm = binary.LittleEndian.AppendUint16(fm, uint16(f.bits))
		fm = binary.LittleEndian.AppendUint32(fm, 0) // channel mask
		fm = binary.LittleEndian.AppendUint16(fm, code)
		fm = append(fm, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71)
	}
	return riff(chunk("fmt ", fm), chunk("data", data))
}

func chunk(id string, body []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func riff(chunks ...[]byte) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sineAt(rate int, hz, amp float64) func(i int) float64 {
	return func(i int) float64 { return amp * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)) }
}

// Every supported encoding, channel count and common rate decodes to 48 kHz
// mono holding the same tone, at the level the channels average to, with
// neither images nor aliases of the resampling.
func TestLoadWAVFormats(t *testing.T) {
	type enc struct {
		bits  int
		float bool
		ext   bool
	}
	encs := []enc{{8, false, false}, {16, false, false}, {24, false, false}, {32, false, false},
		{32, true, false}, {64, true, false}, {24, false, true}}
	var formats []wavFormat
	for _, e := range encs {
		for _, ch := range []int{1, 2} {
			for _, rate := range []int{8000, 16000, 44100, 48000} {
				formats = append(formats, wavFormat{rate: rate, channels: ch, bits: e.bits, float: e.float, extensible: e.ext})
			}
		}
	}
	formats = append(formats, wavFormat{rate: 96000, channels: 2, bits: 16}, wavFormat{rate: 22050, channels: 2, bits: 16})
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			const hz, seconds = 1000.0, 0.5
			left, right := sineAt(f.rate, hz, 0.5), sineAt(f.rate, hz, 0.3)
			frames := int(seconds * float64(f.rate))
			path := writeFile(t, "in.wav", makeWAV(f, frames, func(i, ch int) float64 {
				if ch == 1 {
					return right(i)
				}
				return left(i)
			}))
			got, info, err := LoadWAV(path)
			if err != nil {
				t.Fatal(err)
			}
			want := WAVInfo{SampleRate: f.rate, Channels: f.channels, BitsPerSample: f.bits, Float: f.float, Frames: frames}
			if info != want {
				t.Errorf("info = %+v, want %+v", info, want)
			}
			if n := len(got); math.Abs(float64(n)-seconds*SampleRate) > 1 {
				t.Errorf("%d samples at 48 kHz, want %v", n, seconds*SampleRate)
			}
			wantAmp := 0.5
			if f.channels == 2 {
				wantAmp = 0.4 // the channels' average
			}
			if a := ToneLevel(got, SampleRate, hz); math.Abs(a-wantAmp) > 0.02 {
				t.Errorf("%g Hz at %.3f, want %.2f", hz, a, wantAmp)
			}
			// An image of the upsampling (rate-1000) or any other tone
			// would show here.
			for _, other := range []float64{float64(f.rate) - hz, 3000, 5000} {
				if other <= 0 || other >= SampleRate/2 {
					continue
				}
				if a := ToneLevel(got, SampleRate, other); a > 0.01 {
					t.Errorf("spurious %g Hz at %.3f", other, a)
				}
			}
		})
	}
}

// Downsampling filters what 48 kHz cannot carry instead of folding it
// back into the audible band.
func TestResampleDoesNotAlias(t *testing.T) {
	in := make([]float32, 96000/2)
	tone := sineAt(96000, 30000, 0.5)
	for i := range in {
		in[i] = float32(tone(i))
	}
	out := resample(in, 96000, SampleRate)
	if a := ToneLevel(out, SampleRate, 18000); a > 0.01 { // 48000-30000
		t.Errorf("30 kHz aliased to 18 kHz at %.3f", a)
	}
	if resample(in, 48000, 48000)[10] != in[10] {
		t.Error("resampling to the same rate changed the audio")
	}
}

func TestDecodeWAVVariants(t *testing.T) {
	f := wavFormat{rate: 16000, channels: 1, bits: 16}
	plain := makeWAV(f, 1600, func(i, _ int) float64 { return sineAt(16000, 500, 0.5)(i) })
	fmtChunk := plain[12 : 12+8+16]
	data := plain[12+8+16:]

	// A LIST chunk of odd length (padded) before the audio is skipped.
	list := chunk("LIST", []byte("INFOISFT\x03\x00\x00\x00ab\x00"))
	withList := riff(fmtChunk, list, data)
	// Streaming writers leave the data size at 0xFFFFFFFF.
	streamed := append([]byte(nil), plain...)
	binary.LittleEndian.PutUint32(streamed[40:44], math.MaxUint32)

	for name, b := range map[string][]byte{"plain": plain, "LIST chunk": withList, "streamed size": streamed} {
		t.Run(name, func(t *testing.T) {
			got, info, err := DecodeWAV(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if info.Frames != 1600 || len(got) != 1600 {
				t.Errorf("frames %d, samples %d, want 1600", info.Frames, len(got))
			}
		})
	}
}

// Files that cannot be played give an error that says why, before
// anything is dialled.
func TestLoadWAVErrors(t *testing.T) {
	good := wavFormat{rate: 16000, channels: 1, bits: 16}
	plain := makeWAV(good, 160, func(int, int) float64 { return 0.1 })
	fmtBody := plain[20 : 20+16]
	withFmt := func(mut func(b []byte)) []byte {
		b := append([]byte(nil), fmtBody...)
		mut(b)
		return riff(chunk("fmt ", b), chunk("data", make([]byte, 320)))
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		data []byte // nil: the path does not exist
		path string // instead of a file with data
		want string
	}{
		{name: "missing file", path: filepath.Join(dir, "nope.wav"), want: "no such file"},
		{name: "directory", path: dir, want: "not a regular file"},
		{name: "empty file", data: []byte{}, want: "not a WAV file"},
		{name: "not RIFF", data: []byte("ID3\x03\x00\x00\x00\x00\x00\x00\x00\x00 mp3 data"), want: "no RIFF/WAVE header"},
		{name: "RIFF but not WAVE", data: riff()[:8], want: "not a WAV file"},
		{name: "no fmt chunk", data: riff(), want: "no fmt chunk"},
		{name: "no data chunk", data: riff(chunk("fmt ", fmtBody)), want: "no data chunk"},
		{name: "data before fmt", data: riff(chunk("data", make([]byte, 4)), chunk("fmt ", fmtBody)), want: "data chunk before the fmt chunk"},
		{name: "short fmt chunk", data: riff(chunk("fmt ", fmtBody[:10]), chunk("data", make([]byte, 4))), want: "fmt chunk of 10 bytes"},
		{name: "truncated fmt chunk", data: riff(chunk("fmt ", fmtBody))[:30], want: "truncated fmt chunk"},
		{name: "ADPCM", data: withFmt(func(b []byte) { b[0] = 2 }), want: "encoding 0x2 is not supported"},
		{name: "mu-law", data: withFmt(func(b []byte) { b[0] = 7 }), want: "encoding 0x7 is not supported"},
		{name: "12-bit PCM", data: withFmt(func(b []byte) { b[14] = 12 }), want: "12-bit PCM is not supported"},
		{name: "16-bit float", data: withFmt(func(b []byte) { b[0] = 3 }), want: "16-bit float is not supported"},
		{name: "no channels", data: withFmt(func(b []byte) { b[2] = 0 }), want: "0 channels"},
		{name: "nine channels", data: withFmt(func(b []byte) { b[2] = 9; b[12] = 18 }), want: "9 channels"},
		{name: "rate too low", data: withFmt(func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 4000) }), want: "sample rate 4000 Hz"},
		{name: "bad block align", data: withFmt(func(b []byte) { b[12] = 3 }), want: "block align 3"},
		{name: "truncated data", data: plain[:len(plain)-100], want: "truncated: the data chunk declares 320 bytes but only 220 follow"},
		{name: "empty data", data: riff(chunk("fmt ", fmtBody), chunk("data", nil)), want: "no audio"},
		{name: "truncated other chunk", data: append(riff(chunk("fmt ", fmtBody)), []byte("LIST\xff\x00\x00\x00abc")...), want: `truncated "LIST" chunk`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if tt.data != nil {
				path = writeFile(t, "bad.wav", tt.data)
			}
			_, _, err := LoadWAV(path)
			if !errors.Is(err, ErrBadWAV) {
				t.Fatalf("err = %v, want ErrBadWAV", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to say %q", err, tt.want)
			}
		})
	}
}

// A recording reads back as what was written, header sizes included.
func TestWAVWriterRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	w, err := CreateWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	tone := newSine(1000)
	for i := 0; i < 50; i++ { // one second
		frame := make([]float32, frameLen)
		tone.fill(frame)
		if i == 0 {
			frame[0] = 3 // clipped, not wrapped
		}
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, info, err := LoadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if info != (WAVInfo{SampleRate: SampleRate, Channels: 1, BitsPerSample: 16, Frames: SampleRate}) {
		t.Errorf("info %+v", info)
	}
	if got[0] < 0.99 {
		t.Errorf("clipped sample reads %v, want full scale", got[0])
	}
	if a := ToneLevel(got, SampleRate, 1000); math.Abs(a-ToneAmplitude) > 0.01 {
		t.Errorf("tone at %.3f, want %.2f", a, ToneAmplitude)
	}
	if _, err := CreateWAV(filepath.Join(t.TempDir(), "missing-dir", "x.wav")); err == nil {
		t.Error("CreateWAV in a missing directory succeeded")
	}
}

// fixture is the committed WAV file the end-to-end tests send: 1 s of
// 22.05 kHz 16-bit stereo, 700 Hz on the left and 1500 Hz on the right
// (whole periods, so it loops without a click). Regenerate it with
// go test ./pkg/call/audio -run TestFixture -update.
func fixturePath(t testing.TB) string { return testdata.Path(t, "audio", "two-tone-22k-stereo.wav") }

func fixture() []byte {
	const rate = 22050
	left, right := sineAt(rate, 700, 0.4), sineAt(rate, 1500, 0.4)
	return makeWAV(wavFormat{rate: rate, channels: 2, bits: 16}, rate, func(i, ch int) float64 {
		if ch == 0 {
			return left(i)
		}
		return right(i)
	})
}

func TestFixture(t *testing.T) {
	want := fixture()
	if *update {
		if err := os.WriteFile(fixturePath(t), want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(fixturePath(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./pkg/call/audio -run TestFixture -update", fixturePath(t))
	}
	mono, _, err := LoadWAV(fixturePath(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, hz := range []float64{700, 1500} {
		if a := ToneLevel(mono, SampleRate, hz); math.Abs(a-0.2) > 0.01 {
			t.Errorf("%g Hz at %.3f, want 0.2", hz, a)
		}
	}
}
