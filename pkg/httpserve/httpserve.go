// Package httpserve runs an HTTP server until its context is done, then
// shuts it down gracefully: what callstat's signaling and token servers
// share.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve serves hs on ln until ctx is done, then shuts down within
// timeout: first stop (if not nil), for what hs does not track itself
// (hijacked WebSocket connections), then hs, which waits for its requests
// in progress. The error says why serving failed before ctx was done, or
// what did not shut down in time; nil after a clean shutdown.
func Serve(ctx context.Context, hs *http.Server, ln net.Listener, timeout time.Duration, stop func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stopErr error
	if stop != nil {
		stopErr = stop(sctx)
	}
	err := hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(stopErr, err)
}
