package sip

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// NormalizeID turns a participant id into the SIP URI callstat uses for
// it: "alice@example.com", "sip:alice@example.com" and
// "<sip:alice@example.com>" are the same id, "sip:alice@example.com".
// An id without a host ("alice") takes domain when it is not empty. Only
// sip: and sips: URIs with a user and a host are accepted; URI parameters
// are dropped (an id names a party, not a route).
func NormalizeID(id, domain string) (string, error) {
	u, err := parseID(id, domain)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func parseID(id, domain string) (sip.Uri, error) {
	s := strings.TrimSpace(id)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if s == "" {
		return sip.Uri{}, fmt.Errorf("%w: empty id", ErrBadID)
	}
	lower := strings.ToLower(s)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		if i := strings.Index(s, ":"); i >= 0 && !strings.Contains(s[:i], "@") {
			return sip.Uri{}, fmt.Errorf("%w: %q has scheme %q; use sip: (or user@host)", ErrBadID, id, s[:i])
		}
		s = "sip:" + s
	}
	if !strings.Contains(s, "@") && domain != "" {
		s += "@" + domain
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return sip.Uri{}, fmt.Errorf("%w: %q: %v", ErrBadID, id, err)
	}
	if u.User == "" || u.Host == "" {
		return sip.Uri{}, fmt.Errorf("%w: %q needs a user and a host (user@example.com)", ErrBadID, id)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Password, u.UriParams, u.Headers = "", nil, nil
	return u, nil
}
