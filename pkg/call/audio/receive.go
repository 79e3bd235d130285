package audio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// ErrRecord means a --record file could not be created or written.
var ErrRecord = errors.New("recording failed")

// ReceiveStats are the W3C inbound-rtp audio fields of a received stream
// (and its media-playout), as the playout path measured them.
// TotalSamplesReceived includes ConcealedSamples, as the spec defines it.
type ReceiveStats struct {
	AudioLevel             float64
	TotalAudioEnergy       float64
	TotalSamplesDuration   float64
	TotalSamplesReceived   uint64
	ConcealedSamples       uint64
	SilentConcealedSamples uint64
	ConcealmentEvents      uint64

	// The jitter buffer (zero without decoding): delays in seconds,
	// summed over JitterBufferEmittedCount samples.
	InsertedSamplesForDeceleration uint64
	RemovedSamplesForAcceleration  uint64
	JitterBufferDelay              float64
	JitterBufferTargetDelay        float64
	JitterBufferMinimumDelay       float64
	JitterBufferEmittedCount       uint64
	TotalProcessingDelay           float64
	// PacketsDiscarded counts packets that came after their audio was
	// concealed and skipped, or were flushed from a full buffer; not
	// duplicates (W3C).
	PacketsDiscarded uint64
	// FECPacketsReceived counts packets carrying in-band FEC (Opus LBRR),
	// FECPacketsDiscarded those whose FEC was not needed.
	FECPacketsReceived  uint64
	FECPacketsDiscarded uint64

	// Not W3C fields: packets decoded (or counted, without decoding),
	// packets the decoder refused (their audio is concealed), duplicates,
	// and, without decoding, packets that came after a later one.
	PacketsDecoded    uint64
	DecodeErrors      uint64
	PacketsDuplicated uint64
	PacketsLate       uint64

	// Playout is the media-playout object: the device that pulled the
	// audio. Valid when Decoded.
	Playout PlayoutStats
	// Decoded says the audio went through the playout path. Without it
	// (CountOnly) only TotalSamplesReceived, ConcealedSamples and
	// ConcealmentEvents were counted, from the packets; everything else
	// is unknown (zero).
	Decoded bool
}

// ReceiveConfig configures a ReceiveMeter.
type ReceiveConfig struct {
	// RecordPath, when set, is the WAV file (48 kHz mono 16-bit) that
	// receives everything played out, concealment included, and the
	// silence the playout device played when audio came too late.
	RecordPath string
	// CountOnly skips the playout path: samples and concealment are
	// counted from the packets' headers and sequence gaps (packetCounter),
	// and nothing is measured of the audio itself. Decoding and playing
	// out cost some 25 µs of CPU a packet, the largest part of a call's
	// cost at hundreds of calls a process. Recording needs decoding.
	CountOnly bool
	Logger    *slog.Logger
}

// ReceiveMeter is the receive side of a call's audio: packets go into a
// jitter buffer (player) from which a playout clock (the device) pulls
// 10 ms every 10 ms, decoding, concealing and measuring what a browser
// would play. The clock starts with the first packet and stops at Close.
type ReceiveMeter struct {
	log       *slog.Logger
	countOnly bool

	mu      sync.Mutex
	count   packetCounter
	play    *player
	dev     device
	frame   []int16
	floats  []float32
	rec     *WAVWriter
	recErr  error
	closed  bool
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
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
		return &ReceiveMeter{log: log, countOnly: true}, nil
	}
	play, err := newPlayer()
	if err != nil {
		return nil, err
	}
	m := &ReceiveMeter{log: log, play: play, frame: make([]int16, outFrame), done: make(chan struct{})}
	if cfg.RecordPath != "" {
		rec, err := CreateWAV(cfg.RecordPath)
		if err != nil {
			play.close()
			return nil, fmt.Errorf("%w: %v", ErrRecord, err)
		}
		m.rec = rec
	}
	return m, nil
}

// Packet takes one RTP packet of the stream, as it arrives.
func (m *ReceiveMeter) Packet(p *rtp.Packet) {
	if len(p.Payload) == 0 {
		return // padding only
	}
	at := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if m.countOnly {
		m.count.packet(p)
		return
	}
	m.play.push(p, at)
	if !m.running {
		m.running = true
		ctx, cancel := context.WithCancel(context.Background())
		m.cancel = cancel
		go m.run(ctx)
	}
}

// run is the playout clock: it pulls a frame whenever the device asks.
func (m *ReceiveMeter) run(ctx context.Context) {
	defer close(m.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		m.mu.Lock()
		if m.play.pull(now, m.frame) {
			// The recording is what the device played: silence where it
			// had nothing in time, then the frame.
			if silence := m.dev.deliver(now, outFrame); silence > 0 {
				m.recordSilence(silence)
			}
			m.record(m.frame)
		}
		next := m.dev.next(now)
		m.mu.Unlock()
		timer.Reset(time.Until(next))
	}
}

// recordSilence appends n samples of silence to the recording.
func (m *ReceiveMeter) recordSilence(n int) {
	for n > 0 {
		k := min(n, len(m.frame))
		m.record(make([]int16, k))
		n -= k
	}
}

// record appends played-out audio to the recording.
func (m *ReceiveMeter) record(pcm []int16) {
	if m.rec == nil || m.recErr != nil {
		return
	}
	m.floats = m.floats[:0]
	for _, s := range pcm {
		m.floats = append(m.floats, float32(s)/(1<<15))
	}
	if err := m.rec.Write(m.floats); err != nil {
		m.recErr = fmt.Errorf("%w: %v", ErrRecord, err)
		m.log.Error("recording stopped", "file", m.rec.Path(), "err", err)
	}
}

// Stats returns the figures so far.
func (m *ReceiveMeter) Stats() ReceiveStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.countOnly {
		return m.count.st
	}
	return m.play.stats(m.dev.stats())
}

// stats converts the player's counters.
func (p *player) stats(dev PlayoutStats) ReceiveStats {
	st := p.st
	return ReceiveStats{
		AudioLevel:                     p.level.audioLevel(),
		TotalAudioEnergy:               p.level.energy(),
		TotalSamplesDuration:           p.level.duration(),
		TotalSamplesReceived:           st.totalSamples,
		ConcealedSamples:               st.concealed,
		SilentConcealedSamples:         st.silentConcealed,
		ConcealmentEvents:              st.concealmentEvents,
		InsertedSamplesForDeceleration: st.inserted,
		RemovedSamplesForAcceleration:  st.removed,
		JitterBufferDelay:              st.bufferDelay,
		JitterBufferTargetDelay:        st.targetDelay,
		JitterBufferMinimumDelay:       st.minimumDelay,
		JitterBufferEmittedCount:       st.emitted,
		TotalProcessingDelay:           st.processingDelay,
		PacketsDiscarded:               st.discarded,
		FECPacketsReceived:             st.fecPackets,
		FECPacketsDiscarded:            st.fecPackets - min(st.fecUsed, st.fecPackets),
		PacketsDecoded:                 st.decoded,
		DecodeErrors:                   st.decodeErrors,
		PacketsDuplicated:              st.duplicates,
		Playout:                        dev,
		Decoded:                        true,
	}
}

// RecordPath is the recording's file, empty when not recording.
func (m *ReceiveMeter) RecordPath() string {
	if m.rec == nil {
		return ""
	}
	return m.rec.Path()
}

// Close stops the playout clock, finishes the recording and frees the
// decoder. It returns the recording's first error, wrapping ErrRecord.
func (m *ReceiveMeter) Close() error {
	m.mu.Lock()
	if m.closed {
		defer m.mu.Unlock()
		return m.recErr
	}
	m.closed = true
	running := m.running
	if running {
		m.cancel()
	}
	m.mu.Unlock()
	if running {
		<-m.done
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.play != nil {
		st := m.play.stats(m.dev.stats())
		m.log.Debug("playout stopped", "played", time.Duration(st.TotalSamplesReceived)*time.Second/SampleRate,
			"concealed", time.Duration(st.ConcealedSamples)*time.Second/SampleRate, "discarded", st.PacketsDiscarded,
			"left in buffer", time.Duration(m.play.fut.len())*time.Second/SampleRate, "packets left", m.play.buf.len(),
			"synthesized", time.Duration(st.Playout.SynthesizedSamplesDuration*float64(time.Second)))
		m.play.close()
	}
	if m.rec != nil {
		if err := m.rec.Close(); err != nil && m.recErr == nil {
			m.recErr = fmt.Errorf("%w: %v", ErrRecord, err)
		}
	}
	return m.recErr
}
