package stats

import (
	"encoding/json"
	"fmt"
)

// CallSummary condenses one call's samples into the figures people look at
// first.
type CallSummary struct {
	Samples         int     `json:"samples"`
	PacketsSent     float64 `json:"packetsSent"`
	PacketsReceived float64 `json:"packetsReceived"`
	PacketsLost     float64 `json:"packetsLost"`
	// LossPercent is the inbound loss over the whole call.
	LossPercent float64 `json:"lossPercent"`
	// JitterMs is the last inbound jitter, in milliseconds.
	JitterMs float64 `json:"jitterMs"`
	// RTTMs is the last round-trip time, in milliseconds: from RTCP
	// (remote-inbound-rtp) when known, else from ICE (candidate-pair).
	RTTMs float64 `json:"rttMs"`
}

// Summarizer builds a CallSummary from samples fed in order.
type Summarizer struct {
	s CallSummary
}

// AddJSON feeds one stored sample (a JSON array of objects).
func (z *Summarizer) AddJSON(body []byte) error {
	var objs []Object
	if err := json.Unmarshal(body, &objs); err != nil {
		return fmt.Errorf("stats: decoding sample: %w", err)
	}
	z.Add(objs)
	return nil
}

// Add feeds one sample. Counters are cumulative, so each sample replaces
// the figures of the one before; a sample that lacks an object (the stream
// had not started yet) leaves them as they were.
func (z *Summarizer) Add(objs []Object) {
	z.s.Samples++
	var sent, transportSent, received, lost, jitter float64
	var haveOutbound, haveInbound bool
	var rtcpRTT float64
	var selectedPair string
	var pairs []Object
	for _, o := range objs {
		switch o.Type() {
		case "outbound-rtp":
			if v, ok := o.Number("packetsSent"); ok {
				sent += v
				haveOutbound = true
			}
		case "transport":
			transportSent, _ = o.Number("packetsSent")
			selectedPair, _ = o["selectedCandidatePairId"].(string)
		case "inbound-rtp":
			// Summed over the streams, like packetsSent; the worst
			// stream's jitter is the one that hurts.
			if v, ok := o.Number("packetsReceived"); ok {
				received += v
				haveInbound = true
			}
			if v, ok := o.Number("packetsLost"); ok {
				lost += v
				haveInbound = true
			}
			if v, ok := o.Number("jitter"); ok {
				jitter = max(jitter, v)
				haveInbound = true
			}
		case "remote-inbound-rtp":
			if v, ok := o.Number("roundTripTime"); ok && v > rtcpRTT {
				rtcpRTT = v
			}
		case "candidate-pair":
			pairs = append(pairs, o)
		}
	}
	if haveOutbound {
		z.s.PacketsSent = sent
	} else if transportSent > 0 {
		z.s.PacketsSent = transportSent
	}
	if haveInbound {
		z.s.PacketsReceived, z.s.PacketsLost, z.s.JitterMs = received, lost, jitter*1000
	}
	switch iceRTT := pairRTT(pairs, selectedPair); {
	case rtcpRTT > 0:
		z.s.RTTMs = rtcpRTT * 1000
	case iceRTT > 0:
		z.s.RTTMs = iceRTT * 1000
	}
	// packetsLost can go negative (duplicates); a negative loss means none.
	if total := z.s.PacketsReceived + z.s.PacketsLost; total > 0 && z.s.PacketsLost > 0 {
		z.s.LossPercent = 100 * z.s.PacketsLost / total
	} else {
		z.s.LossPercent = 0
	}
}

// pairRTT is the ICE round-trip time, in seconds, of the pair in use: the
// transport's selected pair when it names one, else the nominated pair,
// else any pair that has measured one.
func pairRTT(pairs []Object, selected string) float64 {
	var nominated, first float64
	for _, p := range pairs {
		v, ok := p.Number("currentRoundTripTime")
		if !ok || v <= 0 {
			continue
		}
		if selected != "" && p.ID() == selected {
			return v
		}
		if n, _ := p["nominated"].(bool); n && nominated == 0 {
			nominated = v
		}
		if first == 0 {
			first = v
		}
	}
	if nominated > 0 {
		return nominated
	}
	return first
}

// Summary returns the figures so far.
func (z *Summarizer) Summary() CallSummary { return z.s }
