package tokencmd

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/signaling"
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
			return RunServe(cmd.Context(), opts)
		},
	}
	addMintFlags(cmd, f, &opts.MintFlags)
	cmdutil.AddTLSFlags(cmd, &opts.TLSFlags)
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:3000", "address to listen on; port 0 picks a free port (logged)")
	cmd.Flags().StringArrayVar(&opts.AllowedOrigins, "allowed-origin", nil, "browser origin allowed to fetch tokens (CORS; scheme://host[:port] or *), repeatable")
	return cmd
}

// RunServe serves until ctx is cancelled.
func RunServe(ctx context.Context, opts *ServeOptions) error {
	f := opts.Factory
	ln := opts.Listener
	if ln == nil {
		var err error
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", opts.Listen); err != nil {
			return fmt.Errorf("cannot listen on %s: %w", opts.Listen, err)
		}
	}
	scheme := "http://"
	if opts.TLS != nil {
		ln = tls.NewListener(ln, opts.TLS)
		scheme = "https://"
	}
	hs := &http.Server{
		Handler:           opts.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          slog.NewLogLogger(f.Logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	addr := ln.Addr().String()
	f.Logger.Info("token server listening", "url", scheme+addr+"/callparameters", "realm", opts.Realm,
		"caller", opts.Caller, "callee", opts.Callee)
	if opts.Ready != nil {
		opts.Ready(addr)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("token server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	f.Logger.Info("token server stopped")
	return err
}

func (opts *ServeOptions) handler() http.Handler {
	allowed := signaling.OriginChecker(opts.AllowedOrigins)
	mux := http.NewServeMux()
	mux.HandleFunc("/callparameters", func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && len(opts.AllowedOrigins) > 0 && allowed(r) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodOptions:
			w.Header().Set("Access-Control-Allow-Methods", "GET")
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		p, err := opts.mint(opts.Factory.Now)
		if err != nil {
			opts.Factory.Logger.Error("minting tokens failed", "err", err)
			http.Error(w, "cannot mint tokens", http.StatusInternalServerError)
			return
		}
		opts.Factory.Logger.Debug("token set served", "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store") // every set is fresh
		_ = json.NewEncoder(w).Encode(p)
	})
	return mux
}
