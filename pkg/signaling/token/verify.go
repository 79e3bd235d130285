package token

import (
	"fmt"
	"strings"
	"time"
)

// Defaults for Verifier.
const (
	// DefaultTTL is how long a token stays valid after it was minted.
	DefaultTTL = 10 * time.Minute
	// DefaultSkew is how far in the future a timestamp may lie: the
	// backend that minted it may run a little ahead of the server.
	DefaultSkew = 30 * time.Second
)

// Set is the credentials an anonymous call carries.
type Set struct {
	Realm        string
	AccountToken string
	FromToken    string
	ToToken      string
}

// Verifier is the server's side: one realm and its key. Its error messages
// go back to clients, so they say which token failed and why but never what
// a token decrypted to.
type Verifier struct {
	Realm string
	Key   Key
	// TTL and Skew bound a token's timestamp: not older than TTL, not
	// newer than Skew ahead of Now. Zero means the default.
	TTL  time.Duration
	Skew time.Duration
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
}

func (v *Verifier) ttl() time.Duration {
	if v.TTL > 0 {
		return v.TTL
	}
	return DefaultTTL
}

func (v *Verifier) skew() time.Duration {
	if v.Skew > 0 {
		return v.Skew
	}
	return DefaultSkew
}

// CheckUser verifies the token a participant registers id with.
func (v *Verifier) CheckUser(tok, id string) error {
	c, err := v.open("token", tok, id)
	if err != nil {
		return err
	}
	return v.checkTime("token", c.Timestamp)
}

// CheckCall verifies a call's credentials against the ids it claims:
// the realm is this verifier's, the three tokens open, fromToken was
// minted for from and toToken for to, all three belong to one set (one
// timestamp, one IV), and that timestamp is within the validity window.
func (v *Verifier) CheckCall(s Set, from, to string) error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"realm", s.Realm}, {"accountToken", s.AccountToken}, {"fromToken", s.FromToken}, {"toToken", s.ToToken},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	switch len(missing) {
	case 0:
	case 4:
		return fmt.Errorf("%w: the call carries no credentials; this server requires tokens of realm %q", ErrIncomplete, v.Realm)
	default:
		return fmt.Errorf("%w: the call's credentials lack %s", ErrIncomplete, strings.Join(missing, ", "))
	}
	if s.Realm != v.Realm {
		return fmt.Errorf("%w: credentials are for realm %q, this server serves realm %q", ErrInvalidRealm, clip(s.Realm), v.Realm)
	}
	account, err := v.open("accountToken", s.AccountToken, "")
	if err != nil {
		return err
	}
	fromC, err := v.open("fromToken", s.FromToken, from)
	if err != nil {
		return err
	}
	toC, err := v.open("toToken", s.ToToken, to)
	if err != nil {
		return err
	}
	if fromC.Timestamp != account.Timestamp || toC.Timestamp != account.Timestamp ||
		fromC.IV != account.IV || toC.IV != account.IV {
		return fmt.Errorf("%w: accountToken, fromToken and toToken were not minted together", ErrInvalidToken)
	}
	return v.checkTime("tokens", account.Timestamp)
}

// open decrypts tok and, when id is not empty, checks it was minted for id.
func (v *Verifier) open(name, tok, id string) (Claims, error) {
	if tok == "" {
		return Claims{}, fmt.Errorf("%w: no %s; this server requires tokens of realm %q", ErrIncomplete, name, v.Realm)
	}
	c, err := v.Key.Open(tok)
	if err != nil {
		return Claims{}, fmt.Errorf("%s: %w", name, err)
	}
	if id != "" && !SameUser(c.User, id) {
		return Claims{}, fmt.Errorf("%s: %w: not issued for %q", name, ErrInvalidToken, clip(id))
	}
	return c, nil
}

func (v *Verifier) checkTime(name string, ms int64) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	age := now().Sub(time.UnixMilli(ms))
	switch {
	case age > v.ttl():
		return fmt.Errorf("%w: %s older than the %s validity window; get new ones", ErrExpired, name, v.ttl())
	case -age > v.skew():
		return fmt.Errorf("%w: %s minted in the future, more than %s ahead of the server's clock", ErrInvalidToken, name, v.skew())
	}
	return nil
}

// clip shortens a client-supplied string for an error text.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}
