// Package natsconn opens the NATS connection that callstat's scale-out
// features share (the signaling tier's nodes, load agents and their
// coordinator): one place for the URL, credentials and TLS flags, for
// waiting for a server that is not up yet, and for errors that say what to
// do. See docs/scale-out.md.
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Errors of Connect, checked with errors.Is.
var (
	// ErrUnreachable: no NATS server answered at the URL (within the
	// connect timeout, if any).
	ErrUnreachable = errors.New("NATS server unreachable")
	// ErrAuth: the NATS server refused the credentials, or the TLS
	// handshake failed.
	ErrAuth = errors.New("NATS refused the connection")
	// ErrConfig: a bad URL, credentials file or CA file.
	ErrConfig = errors.New("bad NATS settings")
)

// Options say which NATS to reach and how.
type Options struct {
	// URL is one server URL or several, comma-separated: nats://host:4222,
	// tls://host:4222 (TLS required).
	URL string
	// CredsFile is a NATS credentials file (a user JWT and its NKey seed,
	// as "nsc" or "nats context" writes them).
	CredsFile string
	// CAFile is a PEM file of the CA certificates to trust for TLS to NATS;
	// it makes the connection use TLS.
	CAFile string
	// Name names the connection in the NATS server's monitoring.
	Name string
	// ConnectTimeout, when positive, keeps trying to reach a server that
	// is not up yet for this long; zero fails at once.
	ConnectTimeout time.Duration
	// ReconnectWait is the pause between attempts to reach a lost server
	// (default DefaultReconnectWait). The connection never gives up.
	ReconnectWait time.Duration
	Logger        *slog.Logger

	// OnDisconnect and OnReconnect, if set, run when the connection is
	// lost and when it is back (on the client's goroutine: do not block).
	OnDisconnect func()
	OnReconnect  func()
}

// DefaultReconnectWait is the pause between reconnection attempts.
const DefaultReconnectWait = 250 * time.Millisecond

// dialTimeout bounds one TCP (and TLS) connection attempt.
const dialTimeout = 2 * time.Second

// Validate checks the options without connecting.
func (o Options) Validate() error {
	if strings.TrimSpace(o.URL) == "" {
		return fmt.Errorf("%w: no NATS URL: give one, e.g. nats://127.0.0.1:4222", ErrConfig)
	}
	for u := range strings.SplitSeq(o.URL, ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || pu.Host == "" {
			return fmt.Errorf("%w: invalid NATS URL %q: want nats://host:port or tls://host:port", ErrConfig, u)
		}
		switch pu.Scheme {
		case "nats", "tls":
		default:
			return fmt.Errorf("%w: invalid NATS URL %q: the scheme must be nats:// or tls://", ErrConfig, u)
		}
	}
	for _, f := range []struct{ what, path string }{{"credentials", o.CredsFile}, {"CA", o.CAFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%w: NATS %s file: %w", ErrConfig, f.what, err)
		}
	}
	return nil
}

// Redacted is the URL without any user or password in it, for logs.
func Redacted(urls string) string {
	var out []string
	for u := range strings.SplitSeq(urls, ",") {
		u = strings.TrimSpace(u)
		if pu, err := url.Parse(u); err == nil && pu.User != nil {
			pu.User = url.User("redacted")
			u = pu.String()
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}

// Connect opens the connection. It fails with ErrUnreachable, ErrAuth or
// ErrConfig, naming the URL and what to do; with a ConnectTimeout it first
// waits that long for a server to come up. Once connected, the connection
// reconnects on its own for ever; close it with Close.
func Connect(ctx context.Context, o Options) (*nats.Conn, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wait := o.ReconnectWait
	if wait <= 0 {
		wait = DefaultReconnectWait
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.Timeout(dialTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.ReconnectJitter(wait/2, wait),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // closed by its owner, not lost
			}
			log.Warn("NATS connection lost; reconnecting", "err", err)
			if o.OnDisconnect != nil {
				o.OnDisconnect()
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS connection back", "server", nc.ConnectedUrlRedacted())
			if o.OnReconnect != nil {
				o.OnReconnect()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("NATS error", "subject", subject, "err", err)
		}),
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.CAFile != "" {
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	var deadline time.Time
	if o.ConnectTimeout > 0 {
		deadline = time.Now().Add(o.ConnectTimeout)
	}
	for {
		nc, err := nats.Connect(o.URL, opts...)
		if err == nil {
			log.Info("connected to NATS", "server", nc.ConnectedUrlRedacted(), "serverVersion", nc.ConnectedServerVersion())
			return nc, nil
		}
		if cerr := classify(o.URL, err); !errors.Is(cerr, ErrUnreachable) || deadline.IsZero() || time.Now().After(deadline) {
			if errors.Is(cerr, ErrUnreachable) && !deadline.IsZero() {
				return nil, fmt.Errorf("%w (waited %s)", cerr, o.ConnectTimeout)
			}
			return nil, cerr
		}
		log.Info("waiting for NATS", "url", Redacted(o.URL), "err", err)
		t := time.NewTimer(min(wait*2, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, Redacted(o.URL), ctx.Err())
		case <-t.C:
		}
	}
}

// classify turns a nats.Connect error into one of the package's.
func classify(urls string, err error) error {
	u := Redacted(urls)
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
		strings.Contains(strings.ToLower(err.Error()), "authorization"):
		return fmt.Errorf("%w at %s: %w: check --nats-creds", ErrAuth, u, err)
	case strings.Contains(err.Error(), "x509"), strings.Contains(err.Error(), "tls:"),
		errors.Is(err, nats.ErrSecureConnRequired), errors.Is(err, nats.ErrSecureConnWanted):
		return fmt.Errorf("%w at %s: TLS: %w: check the URL's scheme (tls://) and --nats-ca", ErrAuth, u, err)
	case strings.Contains(err.Error(), "rootCA"), strings.Contains(err.Error(), "credentials"), strings.Contains(err.Error(), "nkey"):
		return fmt.Errorf("%w: %w", ErrConfig, err)
	default:
		return fmt.Errorf("%w at %s: %w; is nats-server running there? (--connect-timeout D waits for it)", ErrUnreachable, u, err)
	}
}
