package audio

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/rtp"
)

func TestLevelMeter(t *testing.T) {
	tests := []struct {
		name      string
		gen       generator
		wantLevel float64
	}{
		{"tone", newSine(1000), ToneAmplitude},
		{"silence", silence{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m levelMeter
			// 1.01 s in uneven pieces: frames of 10 ms must be cut across
			// calls.
			for _, n := range []int{7, 4793, 960, 43720, 1000} {
				buf := make([]float32, n)
				tt.gen.fill(buf)
				m.add(buf)
			}
			if m.samples != 50480 {
				t.Errorf("samples %d", m.samples)
			}
			if m.duration() != 1.05 { // 105 complete 10 ms frames, counted exactly
				t.Errorf("duration %v, want 1.05", m.duration())
			}
			if math.Abs(m.audioLevel()-tt.wantLevel) > 0.001 {
				t.Errorf("audioLevel %v, want %v", m.audioLevel(), tt.wantLevel)
			}
			// The average level over the stream, as the W3C spec derives
			// it from the totals, is the tone's amplitude too.
			if avg := math.Sqrt(m.energy() / m.duration()); math.Abs(avg-tt.wantLevel) > 0.001 {
				t.Errorf("sqrt(energy/duration) = %v, want %v", avg, tt.wantLevel)
			}
		})
	}
}

// encodeTone returns n 20 ms Opus packets of a tone, made by the encoder
// the sources use.
func encodeTone(t *testing.T, hz float64, n int) [][]byte {
	t.Helper()
	g := newSine(hz)
	reader := audio.ReaderFunc(func() (wave.Audio, func(), error) {
		chunk := wave.NewFloat32Interleaved(wave.ChunkInfo{Channels: 1, Len: frameLen, SamplingRate: SampleRate})
		g.fill(chunk.Data)
		return chunk, func() {}, nil
	})
	params, err := opus.NewParams()
	if err != nil {
		t.Fatal(err)
	}
	params.BitRate = 32000
	enc, err := params.BuildAudioEncoder(reader, monoFloat48k()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	out := make([][]byte, n)
	for i := range out {
		b, release, err := enc.Read()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = append([]byte(nil), b...)
		release()
	}
	return out
}

func packet(seq uint16, ts uint32, payload []byte) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: OpusPayloadType, SequenceNumber: seq, Timestamp: ts, SSRC: 42}, Payload: payload}
}

// The receive meter's figures follow what arrived: samples per packet,
// concealment per gap, level of the tone, and the recording holds the tone
// for the whole stream.
func TestReceiveMeter(t *testing.T) {
	pkts := encodeTone(t, 1000, 150) // 3 s
	rec := filepath.Join(t.TempDir(), "heard.wav")
	m, err := NewReceiveMeter(ReceiveConfig{RecordPath: rec})
	if err != nil {
		t.Fatal(err)
	}
	if m.RecordPath() != rec {
		t.Errorf("RecordPath %q", m.RecordPath())
	}
	feedTestStream(m, pkts)
	st := m.Stats()
	want := testStreamCounts
	want.Decoded = true
	got := st
	got.AudioLevel, got.TotalAudioEnergy, got.TotalSamplesDuration, got.SilentConcealedSamples = 0, 0, 0, 0
	if got != want {
		t.Errorf("stats %+v\nwant  %+v", got, want)
	}
	if math.Abs(st.AudioLevel-ToneAmplitude) > 0.05 {
		t.Errorf("audioLevel %.3f, want about %.2f", st.AudioLevel, ToneAmplitude)
	}
	if math.Abs(st.TotalSamplesDuration-3) > 0.011 {
		t.Errorf("totalSamplesDuration %.3f, want 3", st.TotalSamplesDuration)
	}
	if avg := math.Sqrt(st.TotalAudioEnergy / st.TotalSamplesDuration); avg < 0.4 || avg > 0.55 {
		t.Errorf("average level %.3f, want about %.2f", avg, ToneAmplitude)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	m.Packet(packet(testSeq+151, testTS+151*uint32(frameLen), pkts[0])) // after Close: ignored

	heard, info, err := LoadWAV(rec)
	if err != nil {
		t.Fatal(err)
	}
	if info.Frames != 150*frameLen {
		t.Errorf("recording has %d samples, want %d", info.Frames, 150*frameLen)
	}
	// The tone throughout, concealment included (PLC continues it).
	for i := 0; i+SampleRate/2 <= len(heard); i += SampleRate / 2 {
		if a := ToneLevel(heard[i:i+SampleRate/2], SampleRate, 1000); a < 0.3 {
			t.Errorf("recording at %.1f s: 1 kHz at %.3f", float64(i)/SampleRate, a)
		}
	}
}

// feedTestStream feeds 150 packets with a gap, a packet the decoder
// refuses, a duplicate, a late one and padding: testStreamCounts.
func feedTestStream(m *ReceiveMeter, pkts [][]byte) {
	seq, ts := testSeq, testTS
	for i, p := range pkts {
		switch {
		case i >= 50 && i < 55: // lost: one gap of 5 packets
		case i == 100: // the decoder refuses it: concealed
			m.Packet(packet(seq+uint16(i), ts+uint32(i*frameLen), []byte{0xff, 0xff, 0xff}))
		default:
			m.Packet(packet(seq+uint16(i), ts+uint32(i*frameLen), p))
		}
		if i == 120 { // a duplicate, and a late one
			m.Packet(packet(seq+uint16(i), ts+uint32(i*frameLen), p))
			m.Packet(packet(seq+uint16(i-3), ts+uint32((i-3)*frameLen), p))
		}
	}
	m.Packet(packet(seq+150, ts+150*uint32(frameLen), nil)) // padding only: ignored
}

// The test stream's first sequence number and timestamp: both wrap.
var (
	testSeq = uint16(65500)
	testTS  = uint32(4294900000)
)

var testStreamCounts = ReceiveStats{
	TotalSamplesReceived: 150 * uint64(frameLen),
	ConcealedSamples:     6 * uint64(frameLen),
	ConcealmentEvents:    2,
	PacketsDecoded:       144,
	DecodeErrors:         1,
	PacketsLate:          2,
}

// Without decoding, the meter counts the same samples, concealment and
// packets from the packets alone, and measures no audio.
func TestReceiveMeterCountOnly(t *testing.T) {
	m, err := NewReceiveMeter(ReceiveConfig{CountOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	feedTestStream(m, encodeTone(t, 1000, 150))
	if st := m.Stats(); st != testStreamCounts {
		t.Errorf("stats %+v\nwant  %+v", st, testStreamCounts)
	}
	if _, err := NewReceiveMeter(ReceiveConfig{CountOnly: true, RecordPath: filepath.Join(t.TempDir(), "x.wav")}); !errors.Is(err, ErrRecord) {
		t.Errorf("recording without decoding: err = %v, want ErrRecord", err)
	}
}

// packetSamples reads the frame count and size of every kind of packet
// (RFC 6716, section 3.1), and refuses what libopus refuses.
func TestPacketSamples(t *testing.T) {
	tests := []struct {
		name   string
		packet []byte
		want   int
		err    bool
	}{
		{name: "SILK 10 ms", packet: []byte{0 << 3}, want: 480},
		{name: "SILK 20 ms", packet: []byte{1 << 3}, want: 960},
		{name: "SILK 40 ms", packet: []byte{2 << 3}, want: 1920},
		{name: "SILK 60 ms", packet: []byte{3 << 3}, want: 2880},
		{name: "SILK wideband 60 ms", packet: []byte{11 << 3}, want: 2880},
		{name: "hybrid 10 ms", packet: []byte{12 << 3}, want: 480},
		{name: "hybrid 20 ms", packet: []byte{15 << 3}, want: 960},
		{name: "CELT 2.5 ms", packet: []byte{16 << 3}, want: 120},
		{name: "CELT 5 ms", packet: []byte{17 << 3}, want: 240},
		{name: "CELT 10 ms", packet: []byte{18 << 3}, want: 480},
		{name: "CELT fullband 20 ms", packet: []byte{31 << 3}, want: 960},
		{name: "two frames, equal", packet: []byte{31<<3 | 1, 0}, want: 1920},
		{name: "two frames, different", packet: []byte{31<<3 | 2, 0}, want: 1920},
		{name: "code 3, 6 frames of 20 ms", packet: []byte{31<<3 | 3, 6}, want: 5760},
		{name: "code 3, 48 frames of 2.5 ms", packet: []byte{16<<3 | 3, 48}, want: 5760},
		{name: "code 3, more than 120 ms", packet: []byte{31<<3 | 3, 7}, err: true},
		{name: "code 3, no frames", packet: []byte{31<<3 | 3, 0}, err: true},
		{name: "code 3, no count byte", packet: []byte{31<<3 | 3}, err: true},
		{name: "empty", packet: nil, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := packetSamples(tt.packet)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("packetSamples(%x) = %d, %v; want %d, error %v", tt.packet, got, err, tt.want, tt.err)
			}
		})
	}
	// And the encoder's own packets.
	for _, p := range encodeTone(t, 440, 3) {
		if n, err := packetSamples(p); err != nil || n != frameLen {
			t.Errorf("packetSamples of an encoded 20 ms frame = %d, %v", n, err)
		}
	}
}

// A sequence jump (a restarted stream) conceals at most maxConceal.
func TestReceiveMeterBoundsConcealment(t *testing.T) {
	pkts := encodeTone(t, 440, 2)
	m, err := NewReceiveMeter(ReceiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Packet(packet(1, 1000, pkts[0]))
	m.Packet(packet(30000, 1000+2e9, pkts[1]))
	if st := m.Stats(); st.ConcealedSamples != maxConceal || st.TotalSamplesReceived != uint64(2*frameLen+maxConceal) {
		t.Errorf("stats %+v", st)
	}
}

func TestReceiveMeterRecordErrors(t *testing.T) {
	_, err := NewReceiveMeter(ReceiveConfig{RecordPath: filepath.Join(t.TempDir(), "no", "such", "dir.wav")})
	if !errors.Is(err, ErrRecord) {
		t.Errorf("err = %v, want ErrRecord", err)
	}
	// A recording whose file becomes unwritable reports it at Close and
	// keeps measuring.
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("/dev/full: %v", err)
	}
	m, err := NewReceiveMeter(ReceiveConfig{RecordPath: "/dev/full"})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range encodeTone(t, 440, 100) {
		m.Packet(packet(uint16(i), uint32(i*frameLen), p))
	}
	if m.Stats().PacketsDecoded != 100 {
		t.Errorf("decoded %d packets", m.Stats().PacketsDecoded)
	}
	if err := m.Close(); !errors.Is(err, ErrRecord) {
		t.Errorf("Close = %v, want ErrRecord", err)
	}
}
