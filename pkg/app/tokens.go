package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/signaling/token"
)

// maxParamsBytes bounds a token parameters document.
const maxParamsBytes = 64 << 10

// fetchTimeout bounds fetching token parameters from a URL.
const fetchTimeout = 10 * time.Second

// TokenSource says where token parameters come from: File ("-" for
// Stdin), else URL (fetched with GET).
type TokenSource struct {
	File  string
	URL   string
	Stdin io.Reader
	TLS   *tls.Config // for an https:// URL (nil: the system's roots)
}

// LoadTokenParams reads token parameters from src. Errors wrap ErrTokens.
func LoadTokenParams(ctx context.Context, src TokenSource) (*token.Params, error) {
	var (
		data   []byte
		err    error
		source string
	)
	switch {
	case src.File == "-":
		source = "standard input"
		data, err = io.ReadAll(io.LimitReader(src.Stdin, maxParamsBytes))
	case src.File != "":
		source = src.File
		data, err = os.ReadFile(src.File)
	default:
		source = src.URL
		data, err = fetchParams(ctx, src.URL, src.TLS)
	}
	if err != nil {
		return nil, fmt.Errorf("%w from %s: %v", ErrTokens, source, err)
	}
	p, err := token.ParseParams(data)
	if err != nil {
		return nil, fmt.Errorf("%w from %s: %v", ErrTokens, source, err)
	}
	return &p, nil
}

func fetchParams(ctx context.Context, rawURL string, tlsCfg *tls.Config) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, http.NoBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxParamsBytes))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s: %.200s", resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// credentials is what the phone sends: a call's credentials, or the token
// it registers its identity with (nothing without Tokens).
func (c *Config) credentials() (*signaling.Credentials, string, error) {
	p := c.Tokens
	if p == nil {
		return nil, "", nil
	}
	if c.Register {
		tok, ok := p.TokenFor(c.Identity)
		if !ok {
			return nil, "", fmt.Errorf("%w: they are for caller %s and callee %s, not for %s", ErrTokens, p.Caller, p.Callee, c.Identity)
		}
		return nil, tok, nil
	}
	return &signaling.Credentials{Realm: p.Realm, AccountToken: p.AccountToken, FromToken: p.FromToken, ToToken: p.ToToken}, "", nil
}
