package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callstat/callstat/pkg/httpserve"
	"github.com/callstat/callstat/pkg/metrics"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/signaling/token"
)

// SignalingServer is a signaling server to run: callstat serve.
type SignalingServer struct {
	// Listener, when set, is served; otherwise Listen is listened on.
	Listener net.Listener
	Listen   string
	Config   signaling.ServerConfig // its Logger also logs the server's start and stop
	// Page is served at / beside the WebSocket endpoint (nil: nothing).
	Page            http.Handler
	ShutdownTimeout time.Duration
	// Ready, if set, receives the bound address once serving.
	Ready func(addr string)
	// Cluster, when set, makes the server a node of a signaling tier over
	// NATS (cluster.go); nil: a server alone, without NATS.
	Cluster *ClusterConfig
	// Metrics, when set, gets the server's metrics (pkg/metrics), served
	// at /metrics beside the WebSocket endpoint with whatever else it
	// holds.
	Metrics *prometheus.Registry
}

// ServeSignaling runs the server until ctx is done, then ends every call
// (status 503) and shuts down within ShutdownTimeout.
func ServeSignaling(ctx context.Context, s SignalingServer) error {
	log := s.Config.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := listen(ctx, s.Listener, s.Listen)
	if err != nil {
		return err
	}
	if s.Cluster != nil {
		node, leave, err := joinCluster(ctx, *s.Cluster, s.Config.Software, log)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer leave()
		s.Config.Cluster = node
	}
	cfg := s.Config
	var sm *metrics.Server
	if s.Metrics != nil {
		sm = metrics.NewServer(s.Metrics)
		cfg.Metrics = sm
	}
	srv := signaling.NewServer(cfg)
	mux := http.NewServeMux()
	srv.Mount(mux)
	if sm != nil {
		sm.Attach(srv)
		mux.Handle(metrics.Path, metrics.Handler(s.Metrics, log))
	}
	if s.Page != nil {
		mux.Handle("/", s.Page)
	}
	addr := ln.Addr().String()
	ws, web := "ws://", "http://"
	if s.Config.TLS != nil {
		ws, web = "wss://", "https://"
	}
	if v := s.Config.Tokens; v != nil {
		log.Info("tokens required", "realm", v.Realm, "ttl", v.TTL.String())
	}
	attrs := []any{"ws", ws + addr + "/ws", "health", web + addr + "/healthz", "page", web + addr + "/"}
	if sm != nil {
		attrs = append(attrs, "metrics", web+addr+metrics.Path)
	}
	log.Info("signaling server listening", attrs...)
	if s.Ready != nil {
		s.Ready(addr)
	}
	err = srv.Serve(ctx, ln, mux, s.ShutdownTimeout)
	log.Info("signaling server stopped")
	return err
}

// TokenServer is a token server to run: callstat token serve.
type TokenServer struct {
	// Listener, when set, is served; otherwise Listen is listened on.
	Listener net.Listener
	Listen   string
	TLS      *tls.Config // nil: plain HTTP
	Handler  token.HandlerConfig
	// Realm, Caller and Callee are logged: what the tokens are for.
	Realm, Caller, Callee string
	Logger                *slog.Logger
	// Ready, if set, receives the bound address once serving.
	Ready func(addr string)
}

// tokenShutdownTimeout bounds a token server's shutdown: its requests
// are short.
const tokenShutdownTimeout = 5 * time.Second

// ServeTokens serves fresh token sets at token.ParamsPath until ctx is
// done.
func ServeTokens(ctx context.Context, s TokenServer) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := listen(ctx, s.Listener, s.Listen)
	if err != nil {
		return err
	}
	scheme := "http://"
	if s.TLS != nil {
		ln = tls.NewListener(ln, s.TLS)
		scheme = "https://"
	}
	if s.Handler.Logger == nil {
		s.Handler.Logger = log
	}
	hs := &http.Server{
		Handler:           token.Handler(s.Handler),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	addr := ln.Addr().String()
	log.Info("token server listening", "url", scheme+addr+token.ParamsPath, "realm", s.Realm, "caller", s.Caller, "callee", s.Callee)
	if s.Ready != nil {
		s.Ready(addr)
	}
	err = httpserve.Serve(ctx, hs, ln, tokenShutdownTimeout, nil)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("token server: %w", err)
	}
	log.Info("token server stopped")
	return err
}

func listen(ctx context.Context, ln net.Listener, addr string) (net.Listener, error) {
	if ln != nil {
		return ln, nil
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return ln, nil
}
