package audio

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/rtp"
)

// ErrRecord means a --record file could not be created or written.
var ErrRecord = errors.New("recording failed")

// maxConceal bounds the concealment of one gap: a sequence or timestamp
// jump (the far end restarted its stream) must not fake hours of audio.
const maxConceal = 10 * SampleRate

// plcStep: libopus conceals in multiples of 2.5 ms.
const plcStep = SampleRate / 400

// ReceiveStats are the W3C inbound-rtp audio fields of a received stream.
// TotalSamplesReceived includes ConcealedSamples, as the spec defines it.
type ReceiveStats struct {
	AudioLevel             float64
	TotalAudioEnergy       float64
	TotalSamplesDuration   float64
	TotalSamplesReceived   uint64
	ConcealedSamples       uint64
	SilentConcealedSamples uint64
	ConcealmentEvents      uint64
	// Not W3C fields: packets decoded (or counted, without decoding),
	// packets the decoder refused (their audio is concealed), and packets
	// that came after a later one (and so after their audio was concealed)
	// or twice.
	PacketsDecoded uint64
	DecodeErrors   uint64
	PacketsLate    uint64
	// Decoded says the audio was decoded: without it (CountOnly) only the
	// sample and concealment counts were measured, and AudioLevel,
	// TotalAudioEnergy, TotalSamplesDuration and SilentConcealedSamples
	// are unknown (zero).
	Decoded bool
}

// ReceiveConfig configures a ReceiveMeter.
type ReceiveConfig struct {
	// RecordPath, when set, is the WAV file (48 kHz mono 16-bit) that
	// receives everything decoded, concealment included.
	RecordPath string
	// CountOnly skips decoding: samples and concealment are counted from
	// the packets' headers and sequence gaps, and nothing is measured of
	// the audio itself. Decoding costs about 20 µs of CPU a packet, the
	// largest part of a call's cost at hundreds of calls a process.
	// Recording needs decoding.
	CountOnly bool
	Logger    *slog.Logger
}

// ReceiveMeter decodes a received Opus stream, packet by packet, and keeps
// what a browser's audio receiver reports about it. Packet loss (a gap in
// sequence numbers) is concealed with libopus' PLC for the length of the
// gap in RTP time, so that totalSamplesReceived follows the call's duration.
// There is no jitter buffer: packets are decoded in arrival order and one
// arriving after a later one is dropped (its audio was concealed).
type ReceiveMeter struct {
	log       *slog.Logger
	countOnly bool

	mu      sync.Mutex
	dec     *opusDecoder
	pcm     []float32
	level   levelMeter
	st      ReceiveStats
	started bool
	lastSeq uint16
	nextTS  uint32 // RTP timestamp the next packet should have
	frame   int    // samples of the last packet
	rec     *WAVWriter
	recErr  error
	closed  bool
}

// NewReceiveMeter creates the decoder and, if asked, the recording. A
// recording that cannot be created is an error wrapping ErrRecord.
func NewReceiveMeter(cfg ReceiveConfig) (*ReceiveMeter, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.CountOnly {
		if cfg.RecordPath != "" {
			return nil, fmt.Errorf("%w: recording needs the audio decoded", ErrRecord)
		}
		return &ReceiveMeter{log: log, countOnly: true, frame: frameLen}, nil
	}
	dec, err := newOpusDecoder()
	if err != nil {
		return nil, err
	}
	m := &ReceiveMeter{log: log, dec: dec, pcm: make([]float32, maxOpusFrame), frame: frameLen}
	if cfg.RecordPath != "" {
		rec, err := CreateWAV(cfg.RecordPath)
		if err != nil {
			dec.close()
			return nil, fmt.Errorf("%w: %v", ErrRecord, err)
		}
		m.rec = rec
	}
	return m, nil
}

// Packet decodes one RTP packet of the stream.
func (m *ReceiveMeter) Packet(p *rtp.Packet) {
	if len(p.Payload) == 0 {
		return // padding only
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if m.started {
		diff := int16(p.SequenceNumber - m.lastSeq)
		if diff <= 0 {
			m.st.PacketsLate++
			return
		}
		if diff > 1 {
			gap := int64(int32(p.Timestamp - m.nextTS))
			if gap <= 0 { // timestamps say nothing: assume same-size frames
				gap = int64(diff-1) * int64(m.frame)
			}
			m.conceal(int(min(gap, maxConceal)))
		}
	}
	n, err := packetSamples(p.Payload)
	if err == nil && !m.countOnly {
		n, err = m.dec.decode(p.Payload, m.pcm)
	}
	switch {
	case err != nil:
		m.st.DecodeErrors++
		m.conceal(m.frame)
		n = m.frame
	case m.countOnly:
		m.st.PacketsDecoded++
		m.st.TotalSamplesReceived += uint64(n)
		m.frame = n
	default:
		m.st.PacketsDecoded++
		m.emit(m.pcm[:n])
		m.frame = n
	}
	m.started = true
	m.lastSeq = p.SequenceNumber
	m.nextTS = p.Timestamp + uint32(n)
}

// conceal produces n samples of packet-loss concealment: one concealment
// event.
func (m *ReceiveMeter) conceal(n int) {
	if n <= 0 {
		return
	}
	m.st.ConcealmentEvents++
	if m.countOnly {
		m.st.ConcealedSamples += uint64(n)
		m.st.TotalSamplesReceived += uint64(n)
		return
	}
	for n > 0 {
		want := min(n, maxOpusFrame)
		ask := (want + plcStep - 1) / plcStep * plcStep
		got, err := m.dec.decode(nil, m.pcm[:ask])
		if err != nil || got < want { // cannot happen with valid sizes; stay in step anyway
			clear(m.pcm[:want])
		}
		out := m.pcm[:want]
		m.st.ConcealedSamples += uint64(want)
		if peak(out) < silentLevelF {
			m.st.SilentConcealedSamples += uint64(want)
		}
		m.emit(out)
		n -= want
	}
}

// emit accounts for and records decoded audio.
func (m *ReceiveMeter) emit(samples []float32) {
	m.st.TotalSamplesReceived += uint64(len(samples))
	m.level.add(samples)
	if m.rec != nil && m.recErr == nil {
		if err := m.rec.Write(samples); err != nil {
			m.recErr = fmt.Errorf("%w: %v", ErrRecord, err)
			m.log.Error("recording stopped", "file", m.rec.Path(), "err", err)
		}
	}
}

// Stats returns the figures so far.
func (m *ReceiveMeter) Stats() ReceiveStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	if m.countOnly {
		return st
	}
	st.Decoded = true
	st.AudioLevel = m.level.audioLevel()
	st.TotalAudioEnergy = m.level.energy()
	st.TotalSamplesDuration = m.level.duration()
	return st
}

// RecordPath is the recording's file, empty when not recording.
func (m *ReceiveMeter) RecordPath() string {
	if m.rec == nil {
		return ""
	}
	return m.rec.Path()
}

// Close finishes the recording and frees the decoder. It returns the
// recording's first error, wrapping ErrRecord.
func (m *ReceiveMeter) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return m.recErr
	}
	m.closed = true
	if m.dec != nil {
		m.dec.close()
	}
	if m.rec != nil {
		if err := m.rec.Close(); err != nil && m.recErr == nil {
			m.recErr = fmt.Errorf("%w: %v", ErrRecord, err)
		}
	}
	return m.recErr
}
