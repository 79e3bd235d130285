package sip

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// authorize adds credentials for a 401 (WWW-Authenticate → Authorization)
// or 407 (Proxy-Authenticate → Proxy-Authorization) challenge to req, in
// place of any earlier ones. Of several challenges (RFC 8760 lets a
// server offer SHA-256 and MD5) the strongest supported one is answered.
// It reports whether the challenge was marked stale (the password was
// right but the nonce old: answering again is not a loop).
func (a *Agent) authorize(req *sip.Request, res *sip.Response) (stale bool, err error) {
	challengeHdr, authHdr := "WWW-Authenticate", "Authorization"
	if res.StatusCode == sip.StatusProxyAuthRequired {
		challengeHdr, authHdr = "Proxy-Authenticate", "Proxy-Authorization"
	}
	var best *digest.Challenge
	rank := func(ch *digest.Challenge) int {
		switch strings.ToUpper(ch.Algorithm) {
		case "SHA-256":
			return 2
		case "", "MD5":
			return 1
		}
		return 0
	}
	var seen []string
	for _, h := range res.GetHeaders(challengeHdr) {
		ch, err := digest.ParseChallenge(h.Value())
		if err != nil {
			seen = append(seen, clip(h.Value()))
			continue
		}
		seen = append(seen, "algorithm="+ch.Algorithm)
		if rank(ch) == 0 || !digest.CanDigest(ch) {
			continue
		}
		if best == nil || rank(ch) > rank(best) {
			best = ch
		}
	}
	if best == nil {
		return false, fmt.Errorf("%d %s carries no digest challenge callstat can answer (MD5 or SHA-256, qop auth): %s",
			res.StatusCode, res.Reason, strings.Join(seen, ", "))
	}
	if a.cfg.Password == "" {
		return false, fmt.Errorf("%d %s: the server asks for a password and none was given", res.StatusCode, res.Reason)
	}
	cred, err := digest.Digest(best, digest.Options{
		Method:   string(req.Method),
		URI:      req.Recipient.String(),
		Username: a.cfg.AuthUser,
		Password: a.cfg.Password,
		Count:    1,
	})
	if err != nil {
		return false, fmt.Errorf("answering the digest challenge: %w", err)
	}
	req.RemoveHeader(authHdr)
	req.AppendHeader(sip.NewHeader(authHdr, cred.String()))
	return best.Stale, nil
}
