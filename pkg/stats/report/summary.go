// Package report sums calls up and gates them: a call's summary
// (CallSummary, built by a Summarizer from its samples), a load run's
// (LoadSummary), and the quality assertions of --assert checked against
// either (Assertions).
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/callstat/callstat/pkg/stats"
)

// CallSummary is one row of "callstat summary": how a call went and the
// figures people look at first. A figure that was never measured (no RTT
// before the call connected, no MOS without received audio) is nil, and
// null in JSON.
type CallSummary struct {
	CallID      string    `json:"callId"`
	Participant string    `json:"participant"`
	Direction   string    `json:"direction"`
	Peer        string    `json:"peer"`
	Start       time.Time `json:"start"`
	// SetupMs is the time from start to Connected; nil if it never
	// connected.
	SetupMs *float64 `json:"setupMs"`
	// DurationMs is the time from Connected to the end; nil if it never
	// connected or has not ended.
	DurationMs *float64 `json:"durationMs"`
	EndState   string   `json:"endState"` // "" while the call runs (or if its process died)
	StatusCode int      `json:"statusCode"`
	Reason     string   `json:"reason"`
	Error      string   `json:"error,omitempty"`

	Samples int `json:"samples"`
	MediaFigures
}

// MediaFigures are the figures of a call's media (CallSummary), or of a load
// run's calls taken together (LoadSummary, which says how).
type MediaFigures struct {
	PacketsSent     float64 `json:"packetsSent"`
	PacketsReceived float64 `json:"packetsReceived"`
	PacketsLost     float64 `json:"packetsLost"`
	// LossPercent is the inbound loss over all the packets.
	LossPercent *float64 `json:"lossPercent"`
	// Jitter of the received audio and round-trip time (RTCP, else ICE),
	// in milliseconds, as percentiles of the per-sample values.
	JitterP50Ms *float64 `json:"jitterP50Ms"`
	JitterP95Ms *float64 `json:"jitterP95Ms"`
	RTTP50Ms    *float64 `json:"rttP50Ms"`
	RTTP95Ms    *float64 `json:"rttP95Ms"`
	// MOS estimates of the sampling intervals: the worst and the mean.
	MOSMin  *float64 `json:"mosMin"`
	MOSMean *float64 `json:"mosMean"`
}

// SetCall fills the summary's description of the call from its records.
func (s *CallSummary) SetCall(rec stats.CallRecord, end stats.EndRecord) {
	s.CallID, s.Participant, s.Direction, s.Peer, s.Start = rec.CallID, rec.Participant, rec.Direction, rec.Peer, rec.StartedAt
	s.EndState, s.StatusCode, s.Reason, s.Error = end.State, end.StatusCode, end.Reason, end.Error
	s.SetupMs, s.DurationMs = nil, nil
	if !end.ConnectedAt.IsZero() {
		s.SetupMs = ptr(ms(end.ConnectedAt.Sub(rec.StartedAt)))
		if !end.EndedAt.IsZero() {
			s.DurationMs = ptr(ms(end.EndedAt.Sub(end.ConnectedAt)))
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ptr(v float64) *float64 { return &v }

// Summarizer builds a CallSummary's figures from samples fed in order. It
// keeps one number per sample for the percentiles, so memory grows by a
// few bytes per sample.
type Summarizer struct {
	samples              int
	sent, received, lost float64
	haveInbound          bool
	jitters, rtts, moses []float64
}

// AddJSON feeds one stored sample (a JSON array of objects).
func (z *Summarizer) AddJSON(body []byte) error {
	var objs []stats.Object
	if err := json.Unmarshal(body, &objs); err != nil {
		return fmt.Errorf("stats: decoding sample: %w", err)
	}
	z.Add(objs)
	return nil
}

// Add feeds one sample. Counters are cumulative, so each sample replaces
// the counts of the one before; a sample that lacks an object (the stream
// had not started yet) leaves them as they were.
func (z *Summarizer) Add(objs []stats.Object) {
	z.samples++
	var sent float64
	var haveOutbound bool
	for _, o := range objs {
		switch {
		case o.Type() == "outbound-rtp":
			if v, ok := o.Number("packetsSent"); ok {
				sent += v
				haveOutbound = true
			}
		case stats.IsSDKEntry(o):
			if v, ok := o.Number(stats.FieldMOS); ok {
				z.moses = append(z.moses, v)
			}
		}
	}
	if haveOutbound {
		z.sent = sent
	}
	if in := stats.InboundOf(objs); in.Present {
		z.received, z.lost, z.haveInbound = in.Received, in.Lost, true
		z.jitters = append(z.jitters, in.Jitter*1000)
	}
	if rtt, ok := stats.RoundTripTime(objs); ok {
		z.rtts = append(z.rtts, rtt*1000)
	}
}

// Inbound returns the packets received and lost of the last sample that
// had an inbound stream (zero before one).
func (z *Summarizer) Inbound() (received, lost float64) { return z.received, z.lost }

// Summary returns the figures so far; the call's description is left for
// SetCall.
func (z *Summarizer) Summary() CallSummary {
	s := CallSummary{Samples: z.samples, MediaFigures: MediaFigures{PacketsSent: z.sent, PacketsReceived: z.received, PacketsLost: z.lost}}
	// packetsLost can go negative (duplicates); a negative loss means none.
	if total := z.received + math.Max(z.lost, 0); z.haveInbound && total > 0 {
		s.LossPercent = ptr(100 * math.Max(z.lost, 0) / total)
	}
	s.JitterP50Ms, s.JitterP95Ms = Percentile(z.jitters, 50), Percentile(z.jitters, 95)
	s.RTTP50Ms, s.RTTP95Ms = Percentile(z.rtts, 50), Percentile(z.rtts, 95)
	if len(z.moses) > 0 {
		lo, sum := math.Inf(1), 0.0
		for _, v := range z.moses {
			lo = math.Min(lo, v)
			sum += v
		}
		s.MOSMin, s.MOSMean = ptr(lo), ptr(sum/float64(len(z.moses)))
	}
	return s
}

// Percentile is the nearest-rank p-th percentile of values (nil when there
// are none): the smallest value that at least p % of the values do not
// exceed.
func Percentile(values []float64, p float64) *float64 {
	if len(values) == 0 {
		return nil
	}
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return ptr(sorted[rank-1])
}
