package metrics

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/signaling/token"
)

// Server counts what a signaling server does for Prometheus: it is the
// server's signaling.Metrics hook, and reads what the server carries
// (connections, registrations, calls by state) from the server itself at
// each scrape, so that those gauges cannot drift. Make it, give it to
// signaling.ServerConfig.Metrics, then Attach the server.
type Server struct {
	conns      prometheus.Counter
	refused    *prometheus.CounterVec
	regs       prometheus.Counter
	messages   *prometheus.CounterVec
	rejections *prometheus.CounterVec
	routed     prometheus.Counter
	answered   prometheus.Counter
	ended      *prometheus.CounterVec

	loadSrc   atomic.Pointer[func() signaling.Load]
	connDesc  *prometheus.Desc
	regDesc   *prometheus.Desc
	callsDesc *prometheus.Desc
}

// Server call states, as label values of callstat_server_calls.
const (
	stateRinging  = "ringing"
	stateAnswered = "answered"
)

// NewServer registers a signaling server's metrics with reg.
func NewServer(reg prometheus.Registerer) *Server {
	s := &Server{
		conns: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "server", Name: "connections_total",
			Help: "WebSocket connections accepted."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "server", Name: "connections_refused_total",
			Help: "Connections refused before the WebSocket upgrade, by reason (too_many_connections, shutting_down)."}, []string{"reason"}),
		regs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "server", Name: "registrations_total",
			Help: "Ids registered."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "server", Name: "messages_received_total",
			Help: "Valid messages received, by type."}, []string{"type"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "server", Name: "rejections_total",
			Help: "Messages and connections answered with an error, by reason (the error's code; token codes by name)."}, []string{"reason"}),
		routed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "server", Name: "calls_routed_total",
			Help: "Calls that reached their callee."}),
		answered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "server", Name: "calls_answered_total",
			Help: "Calls whose answer reached the caller."}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "server", Name: "calls_ended_total",
			Help: "Calls ended, or refused when placed, by status code (200 normal, 404 callee unknown, 480 party gone, 487 cancelled, 503 shutdown, ...)."},
			[]string{"status_code"}),
		connDesc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "server", "connections"),
			"WebSocket connections open now.", nil, nil),
		regDesc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "server", "registrations"),
			"Ids registered now.", nil, nil),
		callsDesc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "server", "calls"),
			"Calls the server carries now, by state: ringing (routed, not answered) or answered.", []string{"state"}, nil),
	}
	reg.MustRegister(s.conns, s.refused, s.regs, s.messages, s.rejections, s.routed, s.answered, s.ended, loadCollector{s})
	for _, t := range []signaling.Type{signaling.TypeRegister, signaling.TypeCall, signaling.TypeRinging, signaling.TypeAnswer,
		signaling.TypeCandidate, signaling.TypeReject, signaling.TypeEnd} {
		s.messages.WithLabelValues(string(t))
	}
	s.ended.WithLabelValues(strconv.Itoa(signaling.StatusNormal))
	return s
}

// Attach makes the gauges read what srv carries. Until then they are 0.
func (s *Server) Attach(srv *signaling.Server) {
	f := srv.Load
	s.loadSrc.Store(&f)
}

// Connected implements signaling.Metrics.
func (s *Server) Connected() { s.conns.Inc() }

// Refused implements signaling.Metrics.
func (s *Server) Refused(reason string) { s.refused.WithLabelValues(reason).Inc() }

// Registered implements signaling.Metrics.
func (s *Server) Registered() { s.regs.Inc() }

// Received implements signaling.Metrics.
func (s *Server) Received(t signaling.Type) { s.messages.WithLabelValues(string(t)).Inc() }

// Rejected implements signaling.Metrics.
func (s *Server) Rejected(code string) { s.rejections.WithLabelValues(reasonOf(code)).Inc() }

// CallRouted implements signaling.Metrics.
func (s *Server) CallRouted() { s.routed.Inc() }

// CallAnswered implements signaling.Metrics.
func (s *Server) CallAnswered() { s.answered.Inc() }

// CallEnded implements signaling.Metrics.
func (s *Server) CallEnded(status int) { s.ended.WithLabelValues(strconv.Itoa(status)).Inc() }

// tokenReasons names the SDK's token codes, which are numbers.
var tokenReasons = map[string]string{
	token.CodeInvalidToken: "invalid_token",
	token.CodeInvalidRealm: "invalid_realm",
	token.CodeExpired:      "token_expired",
	token.CodeIncomplete:   "incomplete_credentials",
}

// reasonOf is the label value of an error code.
func reasonOf(code string) string {
	if r, ok := tokenReasons[code]; ok {
		return r
	}
	return code
}

// loadCollector reads the server's gauges at each scrape.
type loadCollector struct{ s *Server }

func (c loadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.s.connDesc
	ch <- c.s.regDesc
	ch <- c.s.callsDesc
}

func (c loadCollector) Collect(ch chan<- prometheus.Metric) {
	var l signaling.Load
	if f := c.s.loadSrc.Load(); f != nil {
		l = (*f)()
	}
	ch <- prometheus.MustNewConstMetric(c.s.connDesc, prometheus.GaugeValue, float64(l.Connections))
	ch <- prometheus.MustNewConstMetric(c.s.regDesc, prometheus.GaugeValue, float64(l.Registrations))
	ch <- prometheus.MustNewConstMetric(c.s.callsDesc, prometheus.GaugeValue, float64(l.CallsRinging), stateRinging)
	ch <- prometheus.MustNewConstMetric(c.s.callsDesc, prometheus.GaugeValue, float64(l.CallsAnswered), stateAnswered)
}
