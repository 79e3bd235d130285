// Package serve implements "callstat serve", the signaling server.
package serve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/signaling/webui"
)

// Options are serve's flags and dependencies.
type Options struct {
	Factory         *cmdutil.Factory
	Listen          string
	PingInterval    time.Duration
	ShutdownTimeout time.Duration
	// TokenURL is the browser page's default token URL (--page-token-url).
	TokenURL string
	// Listener, when set (tests), is used instead of listening on Listen.
	Listener net.Listener
	// Ready, when set, receives the bound address once serving.
	Ready func(addr string)
}

// NewCmdServe builds the command; runF replaces the run function in tests.
func NewCmdServe(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the WebSocket signaling server",
		Long: `Run the signaling server that callstat phones (and the protocol's other clients)
connect to. The WebSocket endpoint is /ws and a health check is at /healthz.
The browser softphone page is at /: open http://127.0.0.1:8080/ to call a
callstat answerer, or to answer a callstat call, from a browser.
SIGINT or SIGTERM ends every call it carries (status 503) and stops it.`,
		Example: `  callstat serve --listen 127.0.0.1:8080
  callstat serve --listen [::1]:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := net.SplitHostPort(opts.Listen); err != nil {
				return cmdutil.FlagErrorf("invalid --listen %q: want host:port, e.g. 127.0.0.1:8080", opts.Listen)
			}
			if opts.PingInterval <= 0 {
				return cmdutil.FlagErrorf("--ping-interval must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", f.EnvOr("CALLSTAT_LISTEN", "127.0.0.1:8080"), "address to listen on (env CALLSTAT_LISTEN)")
	cmd.Flags().DurationVar(&opts.PingInterval, "ping-interval", 10*time.Second, "WebSocket keepalive ping interval; a client silent for 2.5x this is dropped")
	cmd.Flags().StringVar(&opts.TokenURL, "page-token-url", webui.DefaultTokenURL, "default of the browser page's token URL field (GET /callparameters of a token server)")
	cmd.Flags().DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 5*time.Second, "how long to wait for connections to close on shutdown")
	return cmd
}

// Run serves until ctx is cancelled.
func Run(ctx context.Context, opts *Options) error {
	f := opts.Factory
	page, err := webui.Handler(webui.Config{Version: f.Build.Version, TokenURL: opts.TokenURL})
	if err != nil {
		return fmt.Errorf("browser page: %w", err)
	}
	ln := opts.Listener
	if ln == nil {
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", opts.Listen)
		if err != nil {
			return fmt.Errorf("cannot listen on %s: %w", opts.Listen, err)
		}
	}
	srv := signaling.NewServer(signaling.ServerConfig{
		Logger:       f.Logger,
		Software:     "callstat/" + f.Build.Version,
		PingInterval: opts.PingInterval,
		PongWait:     opts.PingInterval*5/2 + time.Second,
	})
	mux := http.NewServeMux()
	srv.Mount(mux)
	mux.Handle("/", page)
	addr := ln.Addr().String()
	f.Logger.Info("signaling server listening", "ws", "ws://"+addr+"/ws", "health", "http://"+addr+"/healthz", "page", "http://"+addr+"/")
	if opts.Ready != nil {
		opts.Ready(addr)
	}
	err = srv.Serve(ctx, ln, mux, opts.ShutdownTimeout)
	f.Logger.Info("signaling server stopped")
	if ctx.Err() != nil {
		return nil // a signal is how a server is meant to stop
	}
	return err
}
