package token

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Params is a token set with the ids it was minted for, in the shape of the
// sample token server's GET /callparameters answer. It is also the format
// of callstat's --token-file.
type Params struct {
	Realm        string `json:"realm"`
	AccountToken string `json:"accountToken"`
	FromToken    string `json:"fromToken"`
	ToToken      string `json:"toToken"`
	Caller       string `json:"caller"`
	Callee       string `json:"callee"`
}

// Request is what Generate mints a set for.
type Request struct {
	Realm   string
	Account string // user@domain
	Caller  string // "sip:" + a user@domain, by convention
	Callee  string
	// Timestamp is Unix ms; zero means Now.
	Timestamp int64
	// IV for 32-character keys; empty means a random one drawn from Rand.
	IV   string
	Now  func() time.Time
	Rand io.Reader
}

// Generate mints accountToken, fromToken and toToken with one timestamp
// (and, for 32-character keys, one IV).
func Generate(k Key, r Request) (Params, error) {
	for _, f := range []struct{ name, v string }{
		{"realm", r.Realm}, {"account", r.Account}, {"caller", r.Caller}, {"callee", r.Callee},
	} {
		if strings.TrimSpace(f.v) == "" {
			return Params{}, fmt.Errorf("token: the %s must not be empty", f.name)
		}
	}
	ts := r.Timestamp
	if ts == 0 {
		now := time.Now
		if r.Now != nil {
			now = r.Now
		}
		ts = now().UnixMilli()
	}
	if ts <= 0 {
		return Params{}, fmt.Errorf("token: timestamp %d must be positive", ts)
	}
	iv := r.IV
	if k.UsesIV() && iv == "" {
		var err error
		if iv, err = NewIV(r.Rand); err != nil {
			return Params{}, err
		}
	}
	p := Params{Realm: r.Realm, Caller: r.Caller, Callee: r.Callee}
	for _, m := range []struct {
		user string
		out  *string
	}{{r.Account, &p.AccountToken}, {r.Caller, &p.FromToken}, {r.Callee, &p.ToToken}} {
		tok, err := k.Mint(m.user, ts, iv)
		if err != nil {
			return Params{}, err
		}
		*m.out = tok
	}
	return p, nil
}

// Validate checks that every field is present.
func (p Params) Validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"realm", p.Realm}, {"accountToken", p.AccountToken}, {"fromToken", p.FromToken},
		{"toToken", p.ToToken}, {"caller", p.Caller}, {"callee", p.Callee},
	} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrIncomplete, strings.Join(missing, ", "))
	}
	return nil
}

// ParseParams reads and validates a JSON token set.
func ParseParams(data []byte) (Params, error) {
	var p Params
	if err := json.Unmarshal(data, &p); err != nil {
		return Params{}, fmt.Errorf("not a token parameters object {\"realm\",\"accountToken\",\"fromToken\",\"toToken\",\"caller\",\"callee\"}: %w", err)
	}
	return p, p.Validate()
}

// TokenFor is the token that lets id register: toToken for the callee,
// fromToken for the caller. It reports false for any other id.
func (p Params) TokenFor(id string) (string, bool) {
	switch {
	case SameUser(p.Callee, id):
		return p.ToToken, true
	case SameUser(p.Caller, id):
		return p.FromToken, true
	}
	return "", false
}

// SameUser reports whether a token minted for user covers id: the same
// string, or the same once a leading "sip:" is removed from both, so that
// a token for "sip:alice@example.com" covers "alice@example.com" too.
func SameUser(user, id string) bool {
	return user == id || stripSIP(user) == stripSIP(id)
}

func stripSIP(s string) string {
	if len(s) >= 4 && strings.EqualFold(s[:4], "sip:") {
		return s[4:]
	}
	return s
}
