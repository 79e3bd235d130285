package signaling

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for the server's limits (ServerConfig). They are generous for
// softphones and browsers, which send a handful of messages per call, and
// stop a client that floods.
const (
	// DefaultMessageRate is the sustained messages per second one
	// connection may send; DefaultMessageBurst how many it may send at
	// once (an answerer taking many calls at the same moment).
	DefaultMessageRate  = 200
	DefaultMessageBurst = 1000
	// DefaultMaxConnsPerAddr caps open connections from one IP address.
	DefaultMaxConnsPerAddr = 512
	// DefaultMaxRegistrationsPerAddr caps ids registered from one IP address.
	DefaultMaxRegistrationsPerAddr = 2048
	// DefaultIdleTimeout closes a connection that holds no registration
	// and takes part in no call for this long.
	DefaultIdleTimeout = 30 * time.Second
)

// closeLinger bounds how long the server reads what a client still sends
// after the server closed the connection (see wsConn.linger).
const closeLinger = 2 * time.Second

// WebSocket close codes the server uses besides normal closure.
const (
	closePolicyViolation = 1008 // rate limit, idle timeout
)

// bucket is a token bucket: rate tokens a second, at most burst saved. It
// is used by one goroutine (the connection's reader) and needs no lock.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// allow takes a token if there is one. A nil bucket allows everything.
func (b *bucket) allow(now time.Time) bool {
	if b == nil {
		return true
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// remoteHost is the IP address part of a request's remote address: limits
// count per address, whatever the source port. The server trusts no
// forwarding header; behind a proxy every client is the proxy.
func remoteHost(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// OriginChecker accepts requests without an Origin header (command-line
// clients, which send none) and browser requests from an allowed origin.
// allowed holds "scheme://host[:port]" entries, compared without case and
// default ports; "*" allows every origin.
func OriginChecker(allowed []string) func(*http.Request) bool {
	set := make(map[string]bool, len(allowed))
	for _, o := range allowed {
		set[normalizeOrigin(o)] = true
	}
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		return set["*"] || set[normalizeOrigin(origin)]
	}
}

func normalizeOrigin(o string) string {
	o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
	if o == "*" {
		return o
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return o
	}
	// Default ports are left out by browsers; drop them here too.
	host := u.Host
	if (u.Scheme == "http" && strings.HasSuffix(host, ":80")) || (u.Scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return u.Scheme + "://" + host
}

// ValidateOrigin checks an --allowed-origin value: "*" or scheme://host[:port]
// with nothing after it.
func ValidateOrigin(o string) bool {
	if o == "*" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}
