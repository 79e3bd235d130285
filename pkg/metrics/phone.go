package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/stats"
)

// Histogram buckets, in each metric's base unit. They are fixed so that
// histograms of several processes (hosts) add up.
var (
	setupBuckets    = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	rttBuckets      = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.4, 0.6, 1, 2}
	jitterBuckets   = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2}
	lossBuckets     = []float64{0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1}
	mosBuckets      = []float64{1.5, 2, 2.5, 3, 3.5, 3.8, 4, 4.2, 4.3, 4.4, 4.5}
	realtimeBuckets = []float64{0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 1, 1.01, 1.02, 1.05, 1.2}
)

// Phone counts a softphone's calls and their media for Prometheus. It is
// an app.Observer: give it to app.Config.Observers (one Phone may watch
// every softphone of a process). Labels are the call's direction and how
// it ended, never a call id or a participant, so that a soak of a million
// calls makes the same few series as one call.
type Phone struct {
	active     *prometheus.GaugeVec
	started    *prometheus.CounterVec
	connected  *prometheus.CounterVec
	ended      *prometheus.CounterVec
	setup      *prometheus.HistogramVec
	rtt        prometheus.Histogram
	jitter     prometheus.Histogram
	loss       prometheus.Histogram
	mos        prometheus.Histogram
	realtime   prometheus.Histogram
	packets    *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	lost       prometheus.Counter
	sampleErrs prometheus.Counter

	mu    sync.Mutex
	calls map[callKey]*callCounts
}

type callKey struct{ participant, id string }

// callCounts is what a call's last sample said, from which the next
// sample's increments are taken.
type callCounts struct {
	sent, received, lost     float64
	bytesSent, bytesReceived float64
	at                       time.Time // when the last sample was taken
	connected, haveSample    bool      // the last sample's state was Connected
}

// Directions, as label values.
const (
	dirOutgoing = string(call.Outgoing)
	dirIncoming = string(call.Incoming)
)

// NewPhone registers a softphone's metrics with reg.
func NewPhone(reg prometheus.Registerer) *Phone {
	p := &Phone{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "calls_active",
			Help: "Calls in progress: placed or received and not ended yet."}, []string{"direction"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "calls_started_total",
			Help: "Calls placed (outgoing) or received (incoming)."}, []string{"direction"}),
		connected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "calls_connected_total",
			Help: "Calls that reached Connected."}, []string{"direction"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "calls_ended_total",
			Help: "Calls ended, by direction, status code (200 a normal end; 0 none) and result (ok, or failed: ended with an error)."},
			[]string{"direction", "status_code", "result"}),
		setup: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "call_setup_seconds",
			Help: "Time from a call's start (placed or received) to Connected.", Buckets: setupBuckets}, []string{"direction"}),
		rtt: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "rtt_seconds",
			Help: "Round-trip time of each rated sampling interval of every call (RTCP, else ICE).", Buckets: rttBuckets}),
		jitter: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "jitter_seconds",
			Help: "Jitter of the audio received, each rated sampling interval of every call.", Buckets: jitterBuckets}),
		loss: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "packet_loss_ratio",
			Help:    "Share of the packets expected in a sampling interval that were lost (0 to 1), each rated interval of every call.",
			Buckets: lossBuckets}),
		mos: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "mos",
			Help: "MOS estimate (1 to about 4.43) of each rated sampling interval of every call.", Buckets: mosBuckets}),
		realtime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "send_realtime_ratio",
			Help:    "Packets sent in a connected sampling interval over what a sender keeping real time sends (50 a second); below 1 the process falls behind.",
			Buckets: realtimeBuckets}),
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "rtp_packets_total",
			Help: "RTP packets sent and received by every call (outbound-rtp, inbound-rtp), as sampled."}, []string{"direction"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "rtp_bytes_total",
			Help: "RTP payload bytes sent and received by every call (outbound-rtp bytesSent, inbound-rtp bytesReceived), as sampled."},
			[]string{"direction"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "rtp_packets_lost_total",
			Help: "Packets of the audio received that never arrived (inbound-rtp packetsLost), as sampled."}),
		sampleErrs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "stats_sample_errors_total",
			Help: "Stats samples that could not be taken."}),
		calls: map[callKey]*callCounts{},
	}
	reg.MustRegister(p.active, p.started, p.connected, p.ended, p.setup, p.rtt, p.jitter, p.loss, p.mos, p.realtime,
		p.packets, p.bytes, p.lost, p.sampleErrs)
	// Every series a dashboard plots exists from the start, at zero,
	// rather than appearing with the first call.
	for _, d := range []string{dirOutgoing, dirIncoming} {
		p.active.WithLabelValues(d)
		p.started.WithLabelValues(d)
		p.connected.WithLabelValues(d)
		p.setup.WithLabelValues(d)
	}
	for _, d := range []string{"sent", "received"} {
		p.packets.WithLabelValues(d)
		p.bytes.WithLabelValues(d)
	}
	return p
}

// Hooks implements app.Observer.
func (p *Phone) Hooks() call.Hooks {
	return call.Hooks{
		CallStarted: func(c *call.Call) { p.callStarted(c.Local(), c.ID(), string(c.Direction())) },
		StateChanged: func(c *call.Call, ch call.StateChange) {
			if ch.State == call.StateConnected && ch.Previous != call.StateOnHold {
				p.callConnected(string(c.Direction()), c.SetupTime())
			}
		},
		// The stats hook ran before: the call's last sample is counted.
		CallEnding: func(c *call.Call) {
			p.callEnded(c.Local(), c.ID(), string(c.Direction()), c.Transition().StatusCode, c.Err() != nil)
		},
	}
}

// callStarted: a call was placed or received; its samples count from
// now.
func (p *Phone) callStarted(participant, id, dir string) {
	p.mu.Lock()
	p.calls[callKey{participant, id}] = &callCounts{}
	p.mu.Unlock()
	p.started.WithLabelValues(dir).Inc()
	p.active.WithLabelValues(dir).Inc()
}

func (p *Phone) callConnected(dir string, setup time.Duration) {
	p.connected.WithLabelValues(dir).Inc()
	p.setup.WithLabelValues(dir).Observe(setup.Seconds())
}

// callEnded: a call ended (perhaps one that never started: its setup
// failed).
func (p *Phone) callEnded(participant, id, dir string, status int, failed bool) {
	key := callKey{participant, id}
	p.mu.Lock()
	_, started := p.calls[key]
	delete(p.calls, key)
	p.mu.Unlock()
	if started {
		p.active.WithLabelValues(dir).Dec()
	}
	result := "ok"
	if failed {
		result = "failed"
	}
	p.ended.WithLabelValues(dir, strconv.Itoa(status), result).Inc()
}

// OnSampleError implements app.Observer.
func (p *Phone) OnSampleError(string, string, error) { p.sampleErrs.Inc() }

// OnSample implements app.Observer: the interval's quality goes into the
// histograms, the counters' increments into the packet and byte counts.
func (p *Phone) OnSample(s stats.Sample) {
	var (
		cur          callCounts
		haveIn       bool
		haveOut      bool
		state        string
		q            stats.Quality
		rated        bool
		sdk          stats.Object
		sentObserved bool
		interval     time.Duration
	)
	for _, o := range s.Objects {
		switch {
		case stats.IsSDKEntry(o):
			sdk = o
		case o.Type() == "outbound-rtp":
			v, _ := o.Number("packetsSent")
			b, _ := o.Number("bytesSent")
			cur.sent += v
			cur.bytesSent += b
			haveOut = true
		case o.Type() == "inbound-rtp":
			v, _ := o.Number("packetsReceived")
			l, _ := o.Number("packetsLost")
			b, _ := o.Number("bytesReceived")
			cur.received += v
			cur.lost += l
			cur.bytesReceived += b
			haveIn = true
		}
	}
	if sdk != nil {
		state, _ = sdk["state"].(string)
		q.MOS, rated = sdk.Number(stats.FieldMOS)
		q.RTTMs, _ = sdk.Number(stats.FieldRTTMs)
		q.JitterMs, _ = sdk.Number(stats.FieldJitterMs)
		q.LossPercent, _ = sdk.Number(stats.FieldIntervalLossPercent)
	}

	p.mu.Lock()
	cc := p.calls[callKey{s.Participant, s.CallID}]
	if cc == nil { // not started here, or already ended: nothing to add to
		p.mu.Unlock()
		return
	}
	var dSent, dRecv, dLost, dBytesSent, dBytesRecv float64
	// Real time: the packets sent between two samples of a connected call
	// against 50 a second.
	connected := state == call.StateConnected.String()
	if connected && cc.connected && cc.haveSample && haveOut {
		interval = s.Time.Sub(cc.at)
		sentObserved = interval > 0
	}
	if haveOut {
		dSent, dBytesSent = pos(cur.sent-cc.sent), pos(cur.bytesSent-cc.bytesSent)
		cc.sent, cc.bytesSent = max(cc.sent, cur.sent), max(cc.bytesSent, cur.bytesSent)
	}
	if haveIn {
		dRecv, dLost, dBytesRecv = pos(cur.received-cc.received), pos(cur.lost-cc.lost), pos(cur.bytesReceived-cc.bytesReceived)
		cc.received, cc.lost, cc.bytesReceived = max(cc.received, cur.received), max(cc.lost, cur.lost), max(cc.bytesReceived, cur.bytesReceived)
	}
	cc.connected, cc.haveSample, cc.at = connected, true, s.Time
	p.mu.Unlock()

	p.packets.WithLabelValues("sent").Add(dSent)
	p.packets.WithLabelValues("received").Add(dRecv)
	p.bytes.WithLabelValues("sent").Add(dBytesSent)
	p.bytes.WithLabelValues("received").Add(dBytesRecv)
	p.lost.Add(dLost)
	if rated {
		p.mos.Observe(q.MOS)
		p.rtt.Observe(q.RTTMs / 1000)
		p.jitter.Observe(q.JitterMs / 1000)
		p.loss.Observe(q.LossPercent / 100)
	}
	if sentObserved {
		expected := interval.Seconds() / audio.FrameTime.Seconds()
		p.realtime.Observe(dSent / expected)
	}
}

// pos is v, or 0 when a counter went back (a stream replaced).
func pos(v float64) float64 { return max(v, 0) }
