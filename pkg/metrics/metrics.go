// Package metrics exposes callstat's figures to Prometheus: a softphone's
// calls and media (Phone, an observer of pkg/app's softphones) and a
// signaling server's connections, registrations, calls and messages
// (Server, the server's Metrics hook). Names, units and labels follow
// Prometheus' conventions (base units, _total counters, no label a call
// id or a participant could fill); docs/metrics.md lists them all.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/callstat/callstat/pkg/httpserve"
)

// Namespace prefixes every metric callstat defines.
const Namespace = "callstat"

// Path is where the metrics are served.
const Path = "/metrics"

// shutdownTimeout bounds the metrics server's shutdown: its requests are
// short.
const shutdownTimeout = 2 * time.Second

// NewRegistry returns a registry with the Go runtime's and the process's
// own metrics (go_*, process_*: memory, goroutines, CPU, open files),
// what a soak watches for leaks.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the registry's metrics in Prometheus' text format (or
// what the scraper asks for).
func Handler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slogAdapter{log},
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          reg, // promhttp_metric_handler_errors_total
		EnableOpenMetrics: true,
	})
}

// slogAdapter lets promhttp log its errors through slog.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Println(v ...any) {
	if a.log != nil {
		a.log.Warn("metrics: " + fmt.Sprint(v...))
	}
}

// Listen opens the metrics address of --metrics-addr: host:port, port 0
// for a free one. A bad or busy address is an error naming it.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrListen, addr, err)
	}
	return ln, nil
}

// Serve serves the registry at Path on ln until ctx is done.
func Serve(ctx context.Context, ln net.Listener, reg *prometheus.Registry, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle(Path, Handler(reg, log))
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	if log != nil {
		hs.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	}
	return httpserve.Serve(ctx, hs, ln, shutdownTimeout, nil)
}
