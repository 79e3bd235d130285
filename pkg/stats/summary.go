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

// Add feeds one sample.
func (z *Summarizer) Add(objs []Object) {
	z.s.Samples++
	var sent, transportSent float64
	var haveOutbound bool
	var rtcpRTT, iceRTT float64
	for _, o := range objs {
		switch o.Type() {
		case "outbound-rtp":
			if v, ok := o.Number("packetsSent"); ok {
				sent += v
				haveOutbound = true
			}
		case "transport":
			transportSent, _ = o.Number("packetsSent")
		case "inbound-rtp":
			if v, ok := o.Number("packetsReceived"); ok {
				z.s.PacketsReceived = v
			}
			if v, ok := o.Number("packetsLost"); ok {
				z.s.PacketsLost = v
			}
			if v, ok := o.Number("jitter"); ok {
				z.s.JitterMs = v * 1000
			}
		case "remote-inbound-rtp":
			if v, ok := o.Number("roundTripTime"); ok && v > 0 {
				rtcpRTT = v * 1000
			}
		case "candidate-pair":
			if nominated, _ := o["nominated"].(bool); nominated || iceRTT == 0 {
				if v, ok := o.Number("currentRoundTripTime"); ok && v > 0 {
					iceRTT = v * 1000
				}
			}
		}
	}
	if haveOutbound {
		z.s.PacketsSent = sent
	} else if transportSent > 0 {
		z.s.PacketsSent = transportSent
	}
	switch {
	case rtcpRTT > 0:
		z.s.RTTMs = rtcpRTT
	case iceRTT > 0:
		z.s.RTTMs = iceRTT
	}
	if total := z.s.PacketsReceived + z.s.PacketsLost; total > 0 {
		z.s.LossPercent = 100 * z.s.PacketsLost / total
	}
}

// Summary returns the figures so far.
func (z *Summarizer) Summary() CallSummary { return z.s }
