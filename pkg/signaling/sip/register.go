package sip

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/callstat/callstat/pkg/signaling"
)

// registration is our binding at the registrar: one Call-ID for all its
// REGISTERs, with a growing CSeq (RFC 3261 §10.2).
type registration struct {
	callID  string
	seq     uint32
	fromTag string
	expires time.Duration // granted
}

// register binds our contact to the address of record and starts its
// refresh. A refused registration is an error naming the SIP status.
func (c *Conn) register(ctx context.Context) error {
	reg := &registration{callID: uuid.NewString(), fromTag: sip.GenerateTagN(10)}
	granted, err := c.doRegister(ctx, reg, c.a.cfg.Expires)
	if err != nil {
		return err
	}
	reg.expires = granted
	c.mu.Lock()
	c.reg = reg
	c.mu.Unlock()
	c.a.log.Info("registered", "server", c.a.cfg.URL, "expires", granted.String())
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.refresh(reg)
	}()
	return nil
}

// refresh renews the registration before it runs out. A refresh the
// server refuses closes the connection: the phone then reconnects and
// registers again with its backoff, and says so.
func (c *Conn) refresh(reg *registration) {
	for {
		t := time.NewTimer(refreshAfter(reg.expires))
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			return
		}
		granted, err := c.doRegister(c.ctx, reg, c.a.cfg.Expires)
		if c.ctx.Err() != nil || c.isEnded() {
			return
		}
		if err != nil {
			c.a.log.Error("registration refresh failed; closing the connection so that the phone registers again", "err", err)
			c.fail(err)
			return
		}
		reg.expires = granted
		c.a.log.Debug("registration refreshed", "expires", granted.String())
	}
}

// refreshAfter is when to renew a binding granted for d: JsSIP and SIP.js
// renew a few seconds before the end; half-way for short ones.
func refreshAfter(d time.Duration) time.Duration {
	if d > 60*time.Second {
		return d - 30*time.Second
	}
	return max(d/2, time.Second)
}

// unregister removes our binding (Expires 0).
func (c *Conn) unregister(ctx context.Context, reg *registration) error {
	_, err := c.doRegister(ctx, reg, 0)
	if err == nil {
		c.a.log.Info("un-registered", "server", c.a.cfg.URL)
	}
	return err
}

// doRegister sends one REGISTER (and its answer to a digest challenge)
// and returns the lifetime the registrar granted.
func (c *Conn) doRegister(ctx context.Context, reg *registration, expires time.Duration) (time.Duration, error) {
	var challenge *sip.Response
	answered, stale := 0, false
	for {
		req := c.registerRequest(reg, expires)
		if challenge != nil {
			var err error
			if stale, err = c.a.authorize(req, challenge); err != nil {
				return 0, registerError(c.a.id, challenge.StatusCode, challenge.Reason, ": "+err.Error())
			}
		}
		res, err := c.roundTrip(ctx, req)
		if err != nil {
			return 0, fmt.Errorf("%w: REGISTER %s: %w", signaling.ErrRegisterFailed, c.a.id, err)
		}
		switch {
		case res.IsSuccess():
			return grantedExpires(res, c.a.contact.User, expires), nil
		case isChallenge(res):
			// A wrong password is usually answered with a new challenge,
			// not 403: answering twice (unless the nonce was only stale)
			// would loop.
			if answered > 0 && !stale {
				return 0, registerError(c.a.id, res.StatusCode, res.Reason,
					fmt.Sprintf(" again after digest authentication: the server refused the credentials of %q (wrong password or user?)", c.a.cfg.AuthUser))
			}
			answered++
			challenge = res
		case res.StatusCode == sip.StatusIntervalToBrief && expires > 0:
			// Interval Too Brief: ask for the minimum, once.
			if h := res.GetHeader("Min-Expires"); h != nil {
				if s, err := strconv.Atoi(h.Value()); err == nil && time.Duration(s)*time.Second > expires {
					expires = time.Duration(s) * time.Second
					continue
				}
			}
			return 0, registerError(c.a.id, res.StatusCode, res.Reason, "")
		default:
			return 0, registerError(c.a.id, res.StatusCode, reasonText(res, res.Reason), "")
		}
	}
}

// registerRequest builds a REGISTER of our contact for expires.
func (c *Conn) registerRequest(reg *registration, expires time.Duration) *sip.Request {
	a := c.a
	reg.seq++
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: a.aor.Scheme, Host: a.domain})
	req.AppendHeader(a.newVia())
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(&sip.ToHeader{Address: a.aor})
	req.AppendHeader(&sip.FromHeader{DisplayName: a.cfg.DisplayName, Address: a.aor, Params: params("tag", reg.fromTag)})
	callID := sip.CallIDHeader(reg.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: reg.seq, MethodName: sip.REGISTER})
	// As JsSIP registers: the instance id and reg-id of RFC 5626, and the
	// binding's lifetime on the contact.
	req.AppendHeader(&sip.ContactHeader{Address: a.contact,
		Params: params("+sip.instance", `"`+a.inst+`"`, "reg-id", "1", "expires", strconv.Itoa(int(expires/time.Second)))})
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Supported", "path, outbound, gruu"))
	req.AppendHeader(sip.NewHeader("User-Agent", a.cfg.UserAgent))
	req.SetBody(nil)
	return req
}

// roundTrip sends a request outside any dialog through sipgo's client and
// waits for its final response (Timer F bounds the wait).
func (c *Conn) roundTrip(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	tx, err := c.a.client.TransactionRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	return waitFinal(ctx, tx)
}

// grantedExpires is the lifetime of our binding in a 2xx to REGISTER: the
// expires parameter of our contact among those listed, else the Expires
// header, else what was asked.
func grantedExpires(res *sip.Response, contactUser string, asked time.Duration) time.Duration {
	// Every binding of the address of record is listed; ours has our
	// contact's user part (a registrar may add parameters to the rest).
	for _, h := range res.GetHeaders("Contact") {
		ch, ok := h.(*sip.ContactHeader)
		if !ok || ch.Address.User != contactUser {
			continue
		}
		if v, ok := ch.Params.Get("expires"); ok {
			if s, err := strconv.Atoi(v); err == nil && s > 0 {
				return time.Duration(s) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if s, err := strconv.Atoi(h.Value()); err == nil && s > 0 {
			return time.Duration(s) * time.Second
		}
	}
	return asked
}
