// Package servecmd implements "callstat serve", the signaling server.
package servecmd

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/metrics"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/signaling/natscluster"
	"github.com/callstat/callstat/pkg/signaling/token"
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
	cmdutil.KeyFlags
	cmdutil.TLSFlags
	TokenTTL         time.Duration
	AllowedOrigins   []string
	RateLimit        float64
	RateBurst        int
	MaxConnsPerIP    int
	MaxRegsPerIP     int
	IdleTimeout      time.Duration
	HandshakeTimeout time.Duration
	// Scale-out (docs/scale-out.md): --nats makes this server a node of a
	// signaling tier.
	cmdutil.NATSFlags
	NodeTimeout  time.Duration
	Lease        time.Duration
	NATSReplicas int

	// Set by the constructor from the flags.
	Tokens *token.Verifier
	TLS    *tls.Config
	// Now is the token clock (nil: time.Now).
	Now func() time.Time
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
connect to. The WebSocket endpoint is /ws, a health check is at /healthz and
Prometheus metrics are at /metrics (docs/metrics.md).
The browser softphone page is at /: open http://127.0.0.1:8080/ to call a
callstat answerer, or to answer a callstat call, from a browser.
SIGINT or SIGTERM ends every call it carries (status 503) and stops it.

With --realm and a key (--key-file, or $CALLSTAT_TOKEN_KEY) the server requires
tokens: every call must carry a valid token set for its caller and callee, and
every registration a valid token for its id (docs/protocol.md).

Limits per connection and per client address protect the calls in progress
from hostile or broken clients; 0 disables a limit.

With --nats the server is one node of a signaling tier: run several behind a
load balancer, all on one NATS (with JetStream, nats-server -js), and a client
of any node reaches the parties of every other (docs/scale-out.md). A node
that stops for longer than --node-timeout ends its calls for the other side
with status 480.`,
		Example: `  callstat serve --listen 127.0.0.1:8080
  callstat serve --listen [::1]:9000
  callstat serve --realm example-realm --key-file realm.key --token-ttl 10m
  callstat serve --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem --allowed-origin https://app.example.com
  callstat serve --listen 127.0.0.1:8081 --nats nats://127.0.0.1:4222 --connect-timeout 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := net.SplitHostPort(opts.Listen); err != nil {
				return cmdutil.FlagErrorf("invalid --listen %q: want host:port, e.g. 127.0.0.1:8080", opts.Listen)
			}
			if opts.PingInterval <= 0 {
				return cmdutil.FlagErrorf("--ping-interval must be positive")
			}
			if err := opts.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", f.EnvOr("CALLSTAT_LISTEN", "127.0.0.1:8080"), "address to listen on (env CALLSTAT_LISTEN)")
	cmd.Flags().DurationVar(&opts.PingInterval, "ping-interval", 10*time.Second, "WebSocket keepalive ping interval; a client silent for 2.5x this is dropped")
	cmd.Flags().StringVar(&opts.TokenURL, "page-token-url", webui.DefaultTokenURL, "default of the browser page's token URL field (GET /callparameters of a token server)")
	cmd.Flags().DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 5*time.Second, "how long to wait for connections to close on shutdown")
	cmdutil.AddKeyFlags(cmd, f, &opts.KeyFlags)
	cmdutil.AddTLSFlags(cmd, &opts.TLSFlags)
	fl := cmd.Flags()
	fl.DurationVar(&opts.TokenTTL, "token-ttl", token.DefaultTTL, "how long a token is valid after it was minted")
	fl.StringArrayVar(&opts.AllowedOrigins, "allowed-origin", nil,
		"browser origin allowed to connect (scheme://host[:port], or *), repeatable; default: same host only. Clients without Origin are always allowed")
	fl.Float64Var(&opts.RateLimit, "rate-limit", signaling.DefaultMessageRate, "messages a second one connection may send; more closes it")
	fl.IntVar(&opts.RateBurst, "rate-burst", signaling.DefaultMessageBurst, "messages one connection may send at once")
	fl.IntVar(&opts.MaxConnsPerIP, "max-conns-per-ip", signaling.DefaultMaxConnsPerAddr, "open connections allowed from one IP address")
	fl.IntVar(&opts.MaxRegsPerIP, "max-registrations-per-ip", signaling.DefaultMaxRegistrationsPerAddr, "ids that may be registered from one IP address")
	fl.DurationVar(&opts.IdleTimeout, "idle-timeout", signaling.DefaultIdleTimeout, "close a connection that neither registers nor takes part in a call for this long")
	fl.DurationVar(&opts.HandshakeTimeout, "handshake-timeout", 10*time.Second, "time a client has to complete the TLS and WebSocket handshake")
	cmdutil.AddNATSFlags(cmd, f, &opts.NATSFlags, "run as a node of a signaling tier")
	fl.DurationVar(&opts.NodeTimeout, "node-timeout", natscluster.DefaultNodeTimeout, "with --nats: a node silent this long is gone, and its calls end for the other side with 480")
	fl.DurationVar(&opts.Lease, "registration-lease", natscluster.DefaultLease, "with --nats: how long a registration outlives a node that stopped renewing it")
	fl.IntVar(&opts.NATSReplicas, "nats-replicas", 1, "with --nats: replicas of the registrations bucket when this node creates it (3 on a three-server NATS cluster)")
	return cmd
}

func (opts *Options) validate() error {
	switch {
	case opts.TokenTTL <= 0:
		return cmdutil.FlagErrorf("--token-ttl must be positive")
	case opts.RateLimit < 0 || opts.RateBurst < 0 || opts.MaxConnsPerIP < 0 || opts.MaxRegsPerIP < 0 || opts.IdleTimeout < 0:
		return cmdutil.FlagErrorf("--rate-limit, --rate-burst, --max-conns-per-ip, --max-registrations-per-ip and --idle-timeout must not be negative")
	case (opts.RateLimit == 0) != (opts.RateBurst == 0):
		return cmdutil.FlagErrorf("--rate-limit 0 and --rate-burst 0 go together (both disable the rate limit)")
	case opts.HandshakeTimeout <= 0:
		return cmdutil.FlagErrorf("--handshake-timeout must be positive")
	case opts.NodeTimeout <= 0 || opts.Lease <= 0 || opts.NATSReplicas < 1 || opts.NATSReplicas > 5:
		return cmdutil.FlagErrorf("--node-timeout and --registration-lease must be positive, --nats-replicas 1 to 5")
	}
	if err := opts.ValidateNATS(); err != nil {
		return err
	}
	for _, o := range opts.AllowedOrigins {
		if !signaling.ValidateOrigin(o) {
			return cmdutil.FlagErrorf("invalid --allowed-origin %q: want scheme://host[:port], e.g. https://app.example.com, or *", o)
		}
	}
	enabled, err := opts.Load(opts.Factory, false)
	if err != nil {
		return err
	}
	if enabled {
		opts.Tokens = &token.Verifier{Realm: opts.Realm, Key: opts.Key, TTL: opts.TokenTTL, Now: opts.Now}
	}
	opts.TLS, err = opts.Config()
	return err
}

// orOff maps a flag's 0 (off) to the server's "no limit".
func orOff[T int | float64 | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// serveRun serves until ctx is cancelled.
func serveRun(ctx context.Context, opts *Options) error {
	f := opts.Factory
	page, err := webui.Handler(webui.Config{Version: f.Build.Version, TokenURL: opts.TokenURL})
	if err != nil {
		return fmt.Errorf("browser page: %w", err)
	}
	var cluster *app.ClusterConfig
	if opts.Enabled() {
		cluster = &app.ClusterConfig{NATS: opts.NATSOptions(f, "callstat serve "+opts.Listen),
			NodeTimeout: opts.NodeTimeout, Lease: opts.Lease, Replicas: opts.NATSReplicas}
	}
	err = app.ServeSignaling(ctx, app.SignalingServer{
		Cluster:  cluster,
		Listener: opts.Listener,
		Listen:   opts.Listen,
		Config: signaling.ServerConfig{
			Logger:                  f.Logger,
			Software:                "callstat/" + f.Build.Version,
			PingInterval:            opts.PingInterval,
			PongWait:                opts.PingInterval*5/2 + time.Second,
			HandshakeTimeout:        opts.HandshakeTimeout,
			AllowedOrigins:          opts.AllowedOrigins,
			Tokens:                  opts.Tokens,
			TLS:                     opts.TLS,
			MessageRate:             orOff(opts.RateLimit),
			MessageBurst:            orOff(opts.RateBurst),
			MaxConnsPerAddr:         orOff(opts.MaxConnsPerIP),
			MaxRegistrationsPerAddr: orOff(opts.MaxRegsPerIP),
			IdleTimeout:             orOff(opts.IdleTimeout),
		},
		Page:            page,
		ShutdownTimeout: opts.ShutdownTimeout,
		Ready:           opts.Ready,
		Metrics:         metrics.NewRegistry(),
	})
	if ctx.Err() != nil {
		return nil // a signal is how a server is meant to stop
	}
	return err
}
