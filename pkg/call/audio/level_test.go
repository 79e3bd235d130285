package audio

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"testing"
)

// syllable is one burst of the speech-like test signal: a voiced sound
// (a fundamental gliding from f0 to f1 with 12 harmonics falling off as
// 1/k, in fixed scattered phases as a voice's are, not a sawtooth's
// aligned ones) under an envelope that rises in 15 ms and falls in 30 ms,
// scaled to its peak.
type syllable struct {
	startMs, lenMs int
	f0, f1         float64
	peak           float64
}

// burstyPlan is one second of bursts and digital silence, as speech comes:
// syllables of 90 to 280 ms, pauses of 70 to 200 ms, peaks from -7 to
// -1.4 dBFS. It starts and ends in silence, so that it loops without a
// click.
var burstyPlan = []syllable{
	{startMs: 40, lenMs: 180, f0: 140, f1: 150, peak: 0.7},
	{startMs: 360, lenMs: 90, f0: 180, f1: 170, peak: 0.45},
	{startMs: 520, lenMs: 280, f0: 120, f1: 100, peak: 0.85},
}

// harmonicPhase are the harmonics' phases: fixed, from a linear
// congruential sequence, so that the fixture never changes.
var harmonicPhase = func() [12]float64 {
	var p [12]float64
	x := uint32(12345)
	for i := range p {
		x = x*1103515245 + 12345
		p[i] = 2 * math.Pi * float64(x>>8) / (1 << 24)
	}
	return p
}()

// bursty returns one second (48000 samples) of the speech-like signal as
// 16-bit PCM.
func bursty() []int16 {
	out := make([]int16, SampleRate)
	for _, s := range burstyPlan {
		n := s.lenMs * samplesPerMs
		v := make([]float64, n)
		var phase, peak float64
		for i := range v {
			f := s.f0 + (s.f1-s.f0)*float64(i)/float64(n)
			phase += 2 * math.Pi * f / SampleRate
			var x float64
			for k := 1; k <= 12; k++ {
				x += math.Sin(float64(k)*phase+harmonicPhase[k-1]) / float64(k)
			}
			t := float64(i) / samplesPerMs // ms into the syllable
			env := 1.0
			if t < 15 {
				env = 0.5 - 0.5*math.Cos(math.Pi*t/15)
			} else if r := float64(s.lenMs) - t; r < 30 {
				env = 0.5 - 0.5*math.Cos(math.Pi*r/30)
			}
			v[i] = x * env
			peak = max(peak, math.Abs(v[i]))
		}
		for i, x := range v {
			out[s.startMs*samplesPerMs+i] = int16(math.Round(x / peak * s.peak * 32767))
		}
	}
	return out
}

// The bursty fixture the Chromium comparison plays at both ends: one
// second of bursty(), 48 kHz mono 16-bit, so that Chromium's fake capture
// device and callstat's file source play it unconverted, and any run of
// whole seconds holds whole loops. Regenerate it with
// go test ./pkg/call/audio -run TestBurstyFixture -update.
const burstyFixturePath = "../../../testdata/audio/bursty-speech-48k.wav"

func burstyFixture() []byte {
	var data bytes.Buffer
	for _, s := range bursty() {
		_ = binary.Write(&data, binary.LittleEndian, s)
	}
	return append(wavHeader(SampleRate, 1, 16, uint32(data.Len())), data.Bytes()...)
}

func TestBurstyFixture(t *testing.T) {
	want := burstyFixture()
	if *update {
		if err := os.WriteFile(burstyFixturePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(burstyFixturePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./pkg/call/audio -run TestBurstyFixture -update", burstyFixturePath)
	}
	mono, info, err := LoadWAV(burstyFixturePath)
	if err != nil {
		t.Fatal(err)
	}
	if info.SampleRate != SampleRate || info.Channels != 1 || len(mono) != SampleRate {
		t.Fatalf("fixture is %s, %d samples", info, len(mono))
	}
}

// refLevel is libwebrtc's voe::AudioLevel (audio/audio_level.cc) written
// out again for the tests, statement by statement, independently of
// levelMeter: ComputeLevel on 16-bit frames, in floating point as
// libwebrtc accumulates.
type refLevel struct {
	absMax, count, current int
	totalEnergy, totalDur  float64
}

func (r *refLevel) computeLevel(frame []int16, duration float64) {
	// WebRtcSpl_MaxAbsValueW16: the largest |sample|, at most 32767.
	absValue := 0
	for _, s := range frame {
		a := int(s)
		if a < 0 {
			a = -a
		}
		if a > absValue {
			absValue = a
		}
	}
	if absValue > 32767 {
		absValue = 32767
	}
	if absValue > r.absMax {
		r.absMax = absValue
	}
	// if (count_++ == kUpdateFrequency) { ... }, kUpdateFrequency = 10.
	c := r.count
	r.count++
	if c == 10 {
		r.current = r.absMax
		r.count = 0
		r.absMax >>= 2
	}
	e := float64(r.current) / 32767 // INT16_MAX
	e *= e
	r.totalEnergy += e * duration
	r.totalDur += duration
}

// levelSignals are the signals the level tests measure, 3 s each.
func levelSignals() map[string][]int16 {
	b := bursty()
	speech := append(append(append([]int16{}, b...), b...), b...)
	tone := make([]int16, 3*SampleRate)
	for i := range tone {
		tone[i] = int16(math.Round(0.5 * 32767 * math.Sin(2*math.Pi*440*float64(i)/SampleRate)))
	}
	// Clicks: one 1 ms full-scale pulse a second, negative (|-32768| is
	// capped at 32767), in silence.
	clicks := make([]int16, 3*SampleRate)
	for s := range 3 {
		for i := range samplesPerMs {
			clicks[s*SampleRate+300*samplesPerMs+i] = math.MinInt16
		}
	}
	return map[string][]int16{
		"bursty speech": speech,
		"tone":          tone,
		"silence":       make([]int16, 3*SampleRate),
		"clicks":        clicks,
	}
}

// The level meter computes what libwebrtc computes, after every piece of
// audio, whether given 16-bit samples (the decoded side) or floats (the
// source side), in pieces that cut across its 10 ms frames.
func TestLevelMeterMatchesLibwebrtc(t *testing.T) {
	for name, sig := range levelSignals() {
		t.Run(name, func(t *testing.T) {
			var ints, floats levelMeter
			var ref refLevel
			done := 0 // samples the reference has measured
			pos := 0
			for i := 0; pos < len(sig); i++ {
				n := min([]int{7, 4793, 960, 43720, 1000, 480, 1}[i%7], len(sig)-pos)
				chunk := sig[pos : pos+n]
				ints.addInt16(chunk)
				f := make([]float32, n)
				for j, s := range chunk {
					f[j] = float32(s) / 32768
				}
				floats.addFloat(f)
				pos += n
				for ; done+levelFrame <= pos; done += levelFrame {
					ref.computeLevel(sig[done:done+levelFrame], 0.01)
				}
				for which, m := range map[string]*levelMeter{"int16": &ints, "float": &floats} {
					if got, want := m.audioLevel(), float64(ref.current)/32767; got != want {
						t.Fatalf("%s after %d samples: audioLevel %v, libwebrtc %v", which, pos, got, want)
					}
					if got, want := m.energy(), ref.totalEnergy; math.Abs(got-want) > 1e-12*max(1, want) {
						t.Fatalf("%s after %d samples: totalAudioEnergy %v, libwebrtc %v", which, pos, got, want)
					}
					if got, want := m.duration(), ref.totalDur; math.Abs(got-want) > 1e-9 {
						t.Fatalf("%s after %d samples: totalSamplesDuration %v, libwebrtc %v", which, pos, got, want)
					}
				}
			}
			t.Logf("%s: audioLevel %.4f, totalAudioEnergy %.6f over %.2f s", name, ints.audioLevel(), ints.energy(), ints.duration())
		})
	}
}

// What the issue found: between bursts libwebrtc's level is the burst's
// peak held, then a quarter of it per 110 ms, not the silence's 0; and the
// energy follows the held level. Spelled out on one burst.
func TestLevelHoldsAndDecays(t *testing.T) {
	var m levelMeter
	burst := make([]int16, levelFrame)
	for i := range burst {
		burst[i] = int16(32000 * math.Sin(2*math.Pi*float64(i)/48))
	}
	peak := maxAbs16(burst)
	quiet := make([]int16, levelFrame)
	var levels []float64
	// Frames 1-5 hold the burst, then 60 frames of silence.
	for f := 1; f <= 65; f++ {
		if f <= 5 {
			m.addInt16(burst)
		} else {
			m.addInt16(quiet)
		}
		levels = append(levels, m.audioLevel())
	}
	p := float64(peak)
	for _, tt := range []struct {
		frame int
		want  float64
	}{
		{10, 0},                        // no update yet: the first comes with frame 11
		{11, p / 32767},                // the burst's peak, though the last 6 frames were silent
		{21, p / 32767},                // held
		{22, float64(peak>>2) / 32767}, // then a quarter
		{33, float64(peak>>4) / 32767}, // a sixteenth
		{44, float64(peak>>6) / 32767}, // ...
		{65, float64(peak>>8) / 32767}, // updated at frame 55, held since
	} {
		if got := levels[tt.frame-1]; got != tt.want {
			t.Errorf("after frame %d: audioLevel %v, want %v", tt.frame, got, tt.want)
		}
	}
	// 0.25 between bursts where a frame's own peak says 0.
	if got := levels[21]; math.Abs(got-0.244) > 0.001 {
		t.Errorf("audioLevel 120 ms after the burst %v, want a quarter of its peak, 0.244", got)
	}
	// The energy is the held level's: the 5 burst frames alone, squared
	// peaks, would be 5 × 0.01 × (p/32767)².
	var wantE float64
	for _, l := range levels {
		wantE += l * l * 0.01
	}
	if math.Abs(m.energy()-wantE) > 1e-12 {
		t.Errorf("totalAudioEnergy %v, want %v", m.energy(), wantE)
	}
}

// A source's per-call figures are the difference of two readings, exact.
func TestSourceStatsSince(t *testing.T) {
	var m levelMeter
	sig := levelSignals()["bursty speech"]
	m.addInt16(sig[:SampleRate])
	base := SourceStats{meter: levelMeter{frames: m.frames, sumSq: m.sumSq}}
	var alone levelMeter
	alone.addInt16(sig[:SampleRate])
	before := alone.sumSq
	m.addInt16(sig[SampleRate:])
	alone.addInt16(sig[SampleRate:])
	now := SourceStats{AudioLevel: m.audioLevel(), meter: levelMeter{frames: m.frames, sumSq: m.sumSq}}
	got := now.Since(base)
	want := levelMeter{frames: 200, sumSq: alone.sumSq - before}
	if got.TotalSamplesDuration != want.duration() || got.TotalAudioEnergy != want.energy() || got.AudioLevel != m.audioLevel() {
		t.Errorf("Since = %+v, want duration %v energy %v level %v", got, want.duration(), want.energy(), m.audioLevel())
	}
}
