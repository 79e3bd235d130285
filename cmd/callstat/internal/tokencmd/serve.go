package tokencmd

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/signaling/token"
)

// ServeOptions are "token serve"'s flags and dependencies.
type ServeOptions struct {
	Factory *cmdutil.Factory
	MintFlags
	cmdutil.TLSFlags
	Listen         string
	AllowedOrigins []string

	TLS *tls.Config // from TLSFlags, by the constructor
	// Listener, when set (tests), is used instead of listening on Listen.
	Listener net.Listener
	// Ready, when set, receives the bound address once serving.
	Ready func(addr string)
}

// NewCmdServe builds "token serve"; runF replaces the run function in tests.
func NewCmdServe(f *cmdutil.Factory, runF func(context.Context, *ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "serve --listen <addr> --realm <realm> --key-file <file> --account <user@domain> --callee <id>",
		Short: "Serve fresh token sets at GET /callparameters, like the SDK's sample token server",
		Long: `Serve GET /callparameters with a freshly minted token set on every request:
{"realm","accountToken","fromToken","toToken","caller","callee"}, for
"callstat call --token-url", "callstat answer --token-url" and browser pages.
Runs until SIGINT or SIGTERM.

Pages from other origins may fetch the parameters when --allowed-origin lists
them (CORS). Anyone who can reach the port gets tokens: keep it on loopback or
behind the application's own access control.`,
		Example: `  callstat token serve --listen 127.0.0.1:3000 --realm example-realm --key-file realm.key \
      --account bob@example.com --callee sip:alice@example.com
  curl http://127.0.0.1:3000/callparameters`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := net.SplitHostPort(opts.Listen); err != nil {
				return cmdutil.FlagErrorf("invalid --listen %q: want host:port, e.g. 127.0.0.1:3000", opts.Listen)
			}
			for _, o := range opts.AllowedOrigins {
				if !signaling.ValidateOrigin(o) {
					return cmdutil.FlagErrorf("invalid --allowed-origin %q: want scheme://host[:port] or *", o)
				}
			}
			if err := opts.validate(f); err != nil {
				return err
			}
			var err error
			if opts.TLS, err = opts.Config(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return tokenServeRun(cmd.Context(), opts)
		},
	}
	addMintFlags(cmd, f, &opts.MintFlags)
	cmdutil.AddTLSFlags(cmd, &opts.TLSFlags)
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:3000", "address to listen on; port 0 picks a free port (logged)")
	cmd.Flags().StringArrayVar(&opts.AllowedOrigins, "allowed-origin", nil, "browser origin allowed to fetch tokens (CORS; scheme://host[:port] or *), repeatable")
	return cmd
}

// tokenServeRun serves until ctx is cancelled.
func tokenServeRun(ctx context.Context, opts *ServeOptions) error {
	f := opts.Factory
	handler := token.HandlerConfig{Mint: func() (token.Params, error) { return opts.mint(f.Now) }, Logger: f.Logger}
	if len(opts.AllowedOrigins) > 0 {
		handler.AllowOrigin = signaling.OriginChecker(opts.AllowedOrigins)
	}
	return app.ServeTokens(ctx, app.TokenServer{
		Listener: opts.Listener, Listen: opts.Listen, TLS: opts.TLS, Handler: handler,
		Realm: opts.Realm, Caller: opts.Caller, Callee: opts.Callee, Logger: f.Logger, Ready: opts.Ready,
	})
}
