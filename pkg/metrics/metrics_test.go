package metrics

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/callstat/callstat/internal/testkit/prom"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/stats"
)

var t0 = time.UnixMilli(1_700_000_000_000)

// sample is a call's sample at second i: 50 packets a second each way
// (one lost every other second), with the SDK entry's interval quality.
func sample(participant, id string, i int, state string, quality bool) stats.Sample {
	lost := float64(i / 2)
	objs := []stats.Object{
		{"id": "out", "type": "outbound-rtp", "packetsSent": float64(50 * i), "bytesSent": float64(8000 * i)},
		{"id": "in", "type": "inbound-rtp", "packetsReceived": float64(50*i) - lost, "packetsLost": lost, "bytesReceived": float64(7900 * i)},
	}
	info := stats.SDKInfo{SDK: "callstat", Version: "t", InstanceID: "x", Platform: "p"}
	s := stats.NewSample(info, id, participant, i, t0.Add(time.Duration(i)*time.Second), stats.Report{State: state, Objects: objs})
	if quality {
		q := stats.Quality{RTTMs: 20, JitterMs: 3, LossPercent: 2}
		q.MOS = stats.MOS(q.RTTMs, q.JitterMs, q.LossPercent)
		q.SetOn(s.Objects[0])
	}
	return s
}

// A phone's counters and histograms follow its calls: started, active,
// connected, ended by status and result; the packets and bytes of every
// sample once; the quality of every rated interval; real time between two
// connected samples. Samples of a call it does not follow are ignored.
func TestPhone(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := NewPhone(reg)
	p.callStarted("bob", "c1", dirOutgoing)
	p.callStarted("bob", "c2", dirOutgoing)
	p.OnSample(sample("bob", "c1", 0, "Initiated", false))
	p.callConnected(dirOutgoing, 20*time.Millisecond)
	for i := 1; i <= 10; i++ {
		p.OnSample(sample("bob", "c1", i, "Connected", true))
	}
	p.OnSample(sample("bob", "c1", 10, "Connected", false)) // the same counters again: nothing added
	p.OnSample(sample("carol", "c9", 5, "Connected", true)) // not followed here
	p.OnSampleError("c1", "bob", context.DeadlineExceeded)

	if got := testutil.ToFloat64(p.active.WithLabelValues(dirOutgoing)); got != 2 {
		t.Errorf("active %v, want 2", got)
	}
	p.callEnded("bob", "c1", dirOutgoing, 200, false)
	p.callEnded("bob", "c2", dirOutgoing, 480, true)
	p.callEnded("bob", "c3", dirOutgoing, 500, true) // failed before it started: not active

	for _, tt := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"active", p.active.WithLabelValues(dirOutgoing), 0},
		{"started", p.started.WithLabelValues(dirOutgoing), 2},
		{"connected", p.connected.WithLabelValues(dirOutgoing), 1},
		{"ended 200 ok", p.ended.WithLabelValues(dirOutgoing, "200", "ok"), 1},
		{"ended 480 failed", p.ended.WithLabelValues(dirOutgoing, "480", "failed"), 1},
		{"ended 500 failed", p.ended.WithLabelValues(dirOutgoing, "500", "failed"), 1},
		{"packets sent", p.packets.WithLabelValues("sent"), 500},
		{"packets received", p.packets.WithLabelValues("received"), 495},
		{"packets lost", p.lost, 5},
		{"bytes sent", p.bytes.WithLabelValues("sent"), 80000},
		{"sample errors", p.sampleErrs, 1},
	} {
		if got := testutil.ToFloat64(tt.c); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	text := string(lint(t, reg))
	for _, want := range []string{
		`callstat_mos_count 10`, `callstat_rtt_seconds_count 10`,
		`callstat_jitter_seconds_bucket{le="0.005"} 10`, `callstat_packet_loss_ratio_bucket{le="0.02"} 10`,
		`callstat_call_setup_seconds_count{direction="outgoing"} 1`,
		// Nine intervals between ten connected samples, each exactly real
		// time; the repeated sample spans no time and is not observed.
		`callstat_send_realtime_ratio_bucket{le="1"} 9`, `callstat_send_realtime_ratio_count 9`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

// lint serves reg through Handler, reads it back as Prometheus would and
// runs promtool over it.
func lint(t *testing.T, reg *prometheus.Registry) []byte {
	t.Helper()
	hs := httptest.NewServer(Handler(reg, nil))
	defer hs.Close()
	body := prom.Scrape(t, hs.URL+Path)
	prom.Lint(t, body)
	return body
}

// The full registry of a phone (with the Go and process collectors)
// passes promtool: names, units, types and help as Prometheus wants them.
func TestPhoneExpositionLint(t *testing.T) {
	reg := NewRegistry()
	p := NewPhone(reg)
	p.callStarted("bob", "c1", dirIncoming)
	p.callEnded("bob", "c1", dirIncoming, 200, false)
	body := lint(t, reg)
	for _, name := range []string{"callstat_calls_active", "callstat_calls_ended_total", "callstat_rtp_bytes_total",
		"go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("exposition lacks %s", name)
		}
	}
}

// A signaling server's metrics count what it does and read what it
// carries at each scrape; the exposition passes promtool.
func TestServer(t *testing.T) {
	reg := NewRegistry()
	sm := NewServer(reg)
	srv := signaling.NewServer(signaling.ServerConfig{Metrics: sm})
	hs := httptest.NewServer(srv.Handler())
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	c, err := signaling.Dial(ctx, signaling.ClientConfig{URL: ws})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Request(ctx, signaling.Message{Type: signaling.TypeRegister, User: "alice"}); err != nil {
		t.Fatal(err)
	}
	// Before Attach the gauges are 0; after, they read the server.
	if got := testutil.ToFloat64(loadGauge(t, reg, "callstat_server_registrations")); got != 0 {
		t.Errorf("registrations before Attach = %v, want 0", got)
	}
	sm.Attach(srv)
	if _, err := c.Request(ctx, signaling.Message{Type: signaling.TypeRinging, CallID: "nope"}); err == nil {
		t.Fatal("ringing for an unknown call was accepted")
	}
	if err := c.Send(signaling.Message{Type: signaling.TypeCall, CallID: "c1", From: "alice", To: "nobody", SDP: "v=0\r\n"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Messages():
		if m.Type != signaling.TypeEnd || m.Status != signaling.StatusCalleeNotFound {
			t.Fatalf("got %+v, want end 404", m)
		}
	case <-ctx.Done():
		t.Fatal("no end for a call to nobody")
	}

	body := string(lint(t, reg))
	for _, want := range []string{
		`callstat_server_connections 1`, `callstat_server_connections_total 1`, `callstat_server_registrations 1`,
		`callstat_server_registrations_total 1`, `callstat_server_calls{state="ringing"} 0`,
		`callstat_server_messages_received_total{type="register"} 1`, `callstat_server_messages_received_total{type="call"} 1`,
		`callstat_server_rejections_total{reason="unknown_call"} 1`, `callstat_server_calls_ended_total{status_code="404"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if reasonOf("65") != "token_expired" || reasonOf("bad_message") != "bad_message" {
		t.Errorf("token codes are not named: %q %q", reasonOf("65"), reasonOf("bad_message"))
	}
}

// loadGauge collects one gauge of the server's load collector.
func loadGauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

// Serve serves the metrics until its context ends; Listen names a bad
// address.
func TestServeAndListen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	NewPhone(reg)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, reg, nil) }()
	body := prom.Scrape(t, "http://"+ln.Addr().String()+Path)
	if !strings.Contains(string(body), "callstat_calls_started_total") {
		t.Errorf("scrape lacks the phone's metrics:\n%.500s", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	if _, err := Listen(context.Background(), busy.Addr().String()); err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Errorf("a busy address: err = %v, want one naming it", err)
	}
}
