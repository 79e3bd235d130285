package audio

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5/test"
)

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

// feedTestStream feeds 150 packets with a gap of 5, a packet the decoder
// refuses, a duplicate, a late one and padding, calling pace before each
// packet.
func feedTestStream(m *ReceiveMeter, pkts [][]byte, pace func()) {
	seq, ts := testSeq, testTS
	for i, p := range pkts {
		pace()
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

// The receive meter plays a stream sent in real time through its jitter
// buffer: every packet decoded or concealed, the gap concealed, the
// recording what was played, the tone throughout, and its playout clock
// stopped by Close.
func TestReceiveMeter(t *testing.T) {
	report := test.CheckRoutines(t)
	defer report()
	pkts := encodeTone(t, 1000, 150) // 3 s
	rec := filepath.Join(t.TempDir(), "heard.wav")
	m, err := NewReceiveMeter(ReceiveConfig{RecordPath: rec})
	if err != nil {
		t.Fatal(err)
	}
	if m.RecordPath() != rec {
		t.Errorf("RecordPath %q", m.RecordPath())
	}
	tick := time.NewTicker(FrameTime) // the far end sends every 20 ms
	feedTestStream(m, pkts, func() { <-tick.C })
	tick.Stop()
	// Playout runs the buffer's delay behind the packets: wait until each
	// of the 144 decodable packets was played or discarded (had the
	// machine stalled the sender past the buffer).
	deadline := time.Now().Add(20 * time.Second)
	for st := m.Stats(); st.PacketsDecoded+st.PacketsDiscarded < 144; st = m.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	m.Packet(packet(testSeq+151, testTS+151*uint32(frameLen), pkts[0])) // after Close: ignored
	st := m.Stats()
	logStats(t, st)

	// 144 packets were decodable; each was played or, had the machine
	// stalled the sender past the buffer, discarded.
	if got := st.JitterBufferEmittedCount + st.PacketsDiscarded*uint64(frameLen); got != 144*uint64(frameLen) ||
		st.PacketsDecoded+st.PacketsDiscarded != 144 {
		t.Errorf("emitted %d samples of %d packets, discarded %d: want the 144 packets' %d samples", st.JitterBufferEmittedCount,
			st.PacketsDecoded, st.PacketsDiscarded, 144*frameLen)
	}
	if st.DecodeErrors != 1 || st.PacketsDuplicated != 2 {
		t.Errorf("decode errors %d, duplicates %d; want 1, 2 (the repeated packet and the late one)", st.DecodeErrors, st.PacketsDuplicated)
	}
	// The gap and the refused packet, at least; and whatever came after
	// the stream stopped, until Close.
	if st.ConcealedSamples < 6*uint64(frameLen) || st.ConcealmentEvents < 2 {
		t.Errorf("concealed %d samples in %d events, want at least %d in 2", st.ConcealedSamples, st.ConcealmentEvents, 6*frameLen)
	}
	if st.Playout.TotalSamplesCount != st.TotalSamplesReceived || st.TotalSamplesDuration != float64(st.TotalSamplesReceived)/SampleRate {
		t.Errorf("media-playout pulled %d samples, level measured %v s, inbound played %d", st.Playout.TotalSamplesCount,
			st.TotalSamplesDuration, st.TotalSamplesReceived)
	}
	if st.AudioLevel < 0.3 || st.JitterBufferDelay <= 0 || st.TotalProcessingDelay < st.JitterBufferDelay {
		t.Errorf("audioLevel %v, jitterBufferDelay %v, totalProcessingDelay %v", st.AudioLevel, st.JitterBufferDelay, st.TotalProcessingDelay)
	}

	heard, info, err := LoadWAV(rec)
	if err != nil {
		t.Fatal(err)
	}
	// What the device played: the audio, and silence where it came late.
	synthesized := uint64(math.Round(st.Playout.SynthesizedSamplesDuration * SampleRate))
	if uint64(info.Frames) != st.TotalSamplesReceived+synthesized {
		t.Errorf("recording has %d samples, %d were played and %d synthesized", info.Frames, st.TotalSamplesReceived, synthesized)
	}
	// The tone, concealment included (PLC continues it): over the whole
	// recording, so that a machine stalling the sender for a while (the
	// audio then concealed until PLC fades) does not fail the test.
	if a := ToneLevel(heard, SampleRate, 1000); a < 0.3 {
		t.Errorf("recording: 1 kHz at %.3f, want about 0.5", a)
	}
}

// Without decoding, the meter counts samples, concealment and packets from
// the packets alone, and measures no audio.
func TestReceiveMeterCountOnly(t *testing.T) {
	m, err := NewReceiveMeter(ReceiveConfig{CountOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	feedTestStream(m, encodeTone(t, 1000, 150), func() {})
	want := ReceiveStats{
		TotalSamplesReceived: 150 * uint64(frameLen),
		ConcealedSamples:     6 * uint64(frameLen),
		ConcealmentEvents:    2,
		PacketsDecoded:       144,
		DecodeErrors:         1,
		PacketsLate:          2,
	}
	if st := m.Stats(); st != want {
		t.Errorf("stats %+v\nwant  %+v", st, want)
	}
	if _, err := NewReceiveMeter(ReceiveConfig{CountOnly: true, RecordPath: filepath.Join(t.TempDir(), "x.wav")}); !errors.Is(err, ErrRecord) {
		t.Errorf("recording without decoding: err = %v, want ErrRecord", err)
	}
}

// Without decoding, a sequence jump (a restarted stream) counts at most
// maxConceal.
func TestReceiveMeterCountOnlyBoundsConcealment(t *testing.T) {
	pkts := encodeTone(t, 440, 2)
	m, err := NewReceiveMeter(ReceiveConfig{CountOnly: true})
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

// packetHasFEC reads the LBRR flag where libwebrtc reads it, whatever the
// packet's framing; an encoder with FEC on sets it on voiced frames, one
// without never.
func TestPacketHasFEC(t *testing.T) {
	silkLBRR := byte(0x40) // mono, one SILK frame: VAD bit, then the LBRR bit
	tests := []struct {
		name   string
		packet []byte
		want   bool
	}{
		{"SILK 20 ms, LBRR", []byte{1 << 3, silkLBRR}, true},
		{"SILK 20 ms, VAD only", []byte{1 << 3, 0x80}, false},
		{"SILK 40 ms, LBRR after two VAD bits", []byte{2 << 3, 0x20}, true},
		{"SILK 40 ms, second VAD bit", []byte{2 << 3, 0x40}, false},
		{"stereo, side channel's LBRR", []byte{1<<3 | 0x4, 0x10}, true},
		{"hybrid 20 ms, LBRR", []byte{15 << 3, silkLBRR}, true},
		{"CELT only: never", []byte{31 << 3, 0xff}, false},
		{"code 2, after a one-byte length", []byte{1<<3 | 2, 1, silkLBRR, 0}, true},
		{"code 2, empty first frame", []byte{1<<3 | 2, 0, silkLBRR}, false},
		{"code 2, two-byte length", []byte{1<<3 | 2, 252, 0, silkLBRR}, true},
		{"code 3 CBR", []byte{1<<3 | 3, 2, silkLBRR, 0}, true},
		{"code 3 VBR with padding", []byte{1<<3 | 3, 0x80 | 0x40 | 2, 255, 0, 1, silkLBRR, 0}, true},
		{"code 3 truncated", []byte{1<<3 | 3, 0x40 | 2, 255}, false},
		{"TOC only", []byte{1 << 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := packetHasFEC(tt.packet); got != tt.want {
				t.Errorf("packetHasFEC(%x) = %v, want %v", tt.packet, got, tt.want)
			}
		})
	}
	speech := loopPCM(bursty(), SampleRate)
	count := func(pkts [][]byte) (n int) {
		for _, p := range pkts {
			if packetHasFEC(p) {
				n++
			}
		}
		return n
	}
	if with, without := count(encodePCM(t, speech, true)), count(encodePCM(t, speech, false)); with == 0 || without != 0 {
		t.Errorf("packets with LBRR: %d from an encoder with FEC, %d without; want some, none", with, without)
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
	tick := time.NewTicker(FrameTime)
	defer tick.Stop()
	for i, p := range encodeTone(t, 440, 20) {
		<-tick.C
		m.Packet(packet(uint16(i), uint32(i*frameLen), p))
	}
	deadline := time.Now().Add(5 * time.Second)
	for m.Stats().PacketsDecoded < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("decoded %d packets after 5 s", m.Stats().PacketsDecoded)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := m.Close(); !errors.Is(err, ErrRecord) {
		t.Errorf("Close = %v, want ErrRecord", err)
	}
}
