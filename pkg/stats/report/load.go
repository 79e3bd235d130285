package report

import "math"

// LoadSummary sums up the calls of a load run (callstat call --calls N):
// how many were placed, connected and failed, the setup time over the
// connected calls, the packets over all calls, and the quality figures
// across calls. The across-call figures are taken over the calls' own:
// the p50 of jitter and RTT is the median of the calls' p50s, the p95 the
// 95th percentile of the calls' p95s (the figure of the 95th-percentile
// call); MOS min is the worst interval of any call, MOS mean the mean of
// the calls' means; loss is over every call's packets. A figure no call
// measured is nil.
type LoadSummary struct {
	Placed    int `json:"placed"`
	Connected int `json:"connected"`
	// Failed counts calls that ended with an error (not connected, or lost
	// mid-call); a call that connected and ended normally did not fail.
	Failed int `json:"failed"`

	SetupP50Ms *float64 `json:"setupP50Ms"`
	SetupP95Ms *float64 `json:"setupP95Ms"`
	SetupP99Ms *float64 `json:"setupP99Ms"`
	SetupMaxMs *float64 `json:"setupMaxMs"`

	// PacketsExpected is what a sender keeping real time sends each way
	// over the calls' connected time; the far end's packets received and
	// ours sent are measured against it (SentPercent, ReceivedPercent): a
	// process that cannot keep up sends late or not at all, which no loss
	// figure shows.
	PacketsExpected float64 `json:"packetsExpected"`
	// RemotePacketsLost is what the far ends reported lost of ours.
	RemotePacketsLost float64  `json:"remotePacketsLost"`
	SentPercent       *float64 `json:"sentPercent"`
	ReceivedPercent   *float64 `json:"receivedPercent"`

	MediaFigures
}

// LoadCall is one call of a load run: its summary, and what the run adds.
type LoadCall struct {
	CallSummary
	// PacketsExpected is how many packets a sender keeping real time
	// sends each way while the call is connected.
	PacketsExpected float64
	// RemotePacketsLost is what the far end reported lost of our packets
	// (RTCP receiver reports: remote-inbound-rtp).
	RemotePacketsLost float64
}

// SummarizeLoad aggregates the calls of a load run.
func SummarizeLoad(calls []LoadCall) LoadSummary {
	l := LoadSummary{Placed: len(calls)}
	var setups, jit50, jit95, rtt50, rtt95, mosMeans []float64
	var haveInbound bool
	for _, lc := range calls {
		c := lc.CallSummary
		l.PacketsExpected += lc.PacketsExpected
		l.RemotePacketsLost += math.Max(lc.RemotePacketsLost, 0)
		if c.SetupMs != nil {
			l.Connected++
			setups = append(setups, *c.SetupMs)
		}
		if c.Error != "" {
			l.Failed++
		}
		l.PacketsSent += c.PacketsSent
		l.PacketsReceived += c.PacketsReceived
		l.PacketsLost += math.Max(c.PacketsLost, 0)
		if c.LossPercent != nil {
			haveInbound = true
		}
		jit50, jit95 = appendSet(jit50, c.JitterP50Ms), appendSet(jit95, c.JitterP95Ms)
		rtt50, rtt95 = appendSet(rtt50, c.RTTP50Ms), appendSet(rtt95, c.RTTP95Ms)
		mosMeans = appendSet(mosMeans, c.MOSMean)
		if c.MOSMin != nil && (l.MOSMin == nil || *c.MOSMin < *l.MOSMin) {
			l.MOSMin = ptr(*c.MOSMin)
		}
	}
	l.SetupP50Ms, l.SetupP95Ms, l.SetupP99Ms = Percentile(setups, 50), Percentile(setups, 95), Percentile(setups, 99)
	l.SetupMaxMs = Percentile(setups, 100)
	if total := l.PacketsReceived + l.PacketsLost; haveInbound && total > 0 {
		l.LossPercent = ptr(100 * l.PacketsLost / total)
	}
	if l.PacketsExpected > 0 {
		l.SentPercent = ptr(100 * l.PacketsSent / l.PacketsExpected)
		l.ReceivedPercent = ptr(100 * l.PacketsReceived / l.PacketsExpected)
	}
	l.JitterP50Ms, l.JitterP95Ms = Percentile(jit50, 50), Percentile(jit95, 95)
	l.RTTP50Ms, l.RTTP95Ms = Percentile(rtt50, 50), Percentile(rtt95, 95)
	if len(mosMeans) > 0 {
		sum := 0.0
		for _, v := range mosMeans {
			sum += v
		}
		l.MOSMean = ptr(sum / float64(len(mosMeans)))
	}
	return l
}

func appendSet(xs []float64, v *float64) []float64 {
	if v == nil {
		return xs
	}
	return append(xs, *v)
}

// AsCallSummary is the load run as one row that --assert can check (its
// CallID empty, which a breach names "all calls"): loss
// over all packets, jitter and RTT p50/p95 across calls, MOS min and mean
// across calls, and the setup time of the 95th-percentile call (nil when
// no call connected).
func (l LoadSummary) AsCallSummary() CallSummary {
	return CallSummary{SetupMs: l.SetupP95Ms, MediaFigures: l.MediaFigures}
}
