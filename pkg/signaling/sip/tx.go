package sip

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Transaction timers (RFC 3261 §17). Over a reliable transport nothing is
// retransmitted by the client; Timer B bounds the wait for a first
// response.
const (
	timerT1 = 500 * time.Millisecond
	timerT2 = 4 * time.Second
	timerB  = 64 * timerT1
)

// clientTx is one request of ours waiting for its responses, matched by
// the branch of our Via and the CSeq method (a CANCEL shares its INVITE's
// branch).
type clientTx struct {
	key  string
	resp chan *sip.Response
}

func txKey(branch string, method sip.RequestMethod) string {
	return branch + "|" + string(method)
}

// send writes a request and returns its transaction. The request must
// carry our Via (newVia).
func (c *Conn) send(req *sip.Request) (*clientTx, error) {
	via := req.Via()
	if via == nil {
		return nil, fmt.Errorf("sip: request without Via")
	}
	branch, _ := via.Params.Get("branch")
	tx := &clientTx{key: txKey(branch, req.CSeq().MethodName), resp: make(chan *sip.Response, 8)}
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return nil, errClosing
	}
	c.txs[tx.key] = tx.resp
	c.mu.Unlock()
	if err := c.write(req); err != nil {
		c.forgetTx(tx)
		return nil, err
	}
	return tx, nil
}

func (c *Conn) forgetTx(tx *clientTx) {
	c.mu.Lock()
	delete(c.txs, tx.key)
	c.mu.Unlock()
}

// final waits for the final response of tx, handing provisional ones to
// onProvisional (may be nil). Timer B runs until the first response.
func (c *Conn) final(ctx context.Context, tx *clientTx, onProvisional func(*sip.Response)) (*sip.Response, error) {
	defer c.forgetTx(tx)
	timer := time.NewTimer(timerB)
	defer timer.Stop()
	timeout := timer.C
	for {
		select {
		case res := <-tx.resp:
			timeout = nil
			if res.IsProvisional() {
				if onProvisional != nil {
					onProvisional(res)
				}
				continue
			}
			return res, nil
		case <-timeout:
			return nil, fmt.Errorf("%w within %s", ErrTimeout, timerB)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, errClosing
		}
	}
}

// roundTrip sends a request and waits for its final response.
func (c *Conn) roundTrip(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	tx, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return c.final(ctx, tx, nil)
}

// onResponse hands a response to its transaction. A 2xx retransmission
// of an INVITE whose transaction is over is acknowledged again by its
// dialog.
func (c *Conn) onResponse(res *sip.Response) {
	via, cseq := res.Via(), res.CSeq()
	if via == nil || cseq == nil {
		c.log.Warn("ignoring a SIP response without Via or CSeq", "response", res.StartLine())
		return
	}
	branch, _ := via.Params.Get("branch")
	c.mu.Lock()
	ch, ok := c.txs[txKey(branch, cseq.MethodName)]
	c.mu.Unlock()
	if !ok {
		if cseq.MethodName == sip.INVITE && res.IsSuccess() {
			c.reack(res)
			return
		}
		c.log.Debug("response to no transaction of ours", "response", res.StartLine(), "cseq", cseq.String())
		return
	}
	select {
	case ch <- res:
	default:
		c.log.Warn("dropping a SIP response: its transaction is not reading", "response", res.StartLine())
	}
}

// newVia is our Via for a new transaction: the made-up host of RFC 7118
// and a fresh RFC 3261 branch.
func (c *Conn) newVia() *sip.ViaHeader {
	return &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: c.via, Host: c.viaHost,
		Params: params("branch", sip.GenerateBranch())}
}

// respond answers a request. extra headers are appended.
func (c *Conn) respond(req *sip.Request, code int, reason string, body []byte, extra ...sip.Header) error {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range extra {
		res.AppendHeader(h)
	}
	res.AppendHeader(sip.NewHeader("User-Agent", c.cfg.UserAgent))
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	res.SetBody(body)
	return c.write(res)
}

// reasonText is what a failure response says: the text of its Reason
// header (RFC 3326) or Warning when it has one, else the reason phrase.
func reasonText(m interface{ GetHeader(string) sip.Header }, phrase string) string {
	if h := m.GetHeader("Reason"); h != nil {
		if _, rest, ok := strings.Cut(h.Value(), "text="); ok {
			if t := strings.Trim(strings.SplitN(rest, ";", 2)[0], `" `); t != "" {
				return t
			}
		}
	}
	if h := m.GetHeader("Warning"); h != nil {
		if i := strings.Index(h.Value(), `"`); i >= 0 {
			if t := strings.Trim(h.Value()[i:], `" `); t != "" {
				return phrase + ": " + t
			}
		}
	}
	return phrase
}

// params builds header or URI parameters from key, value pairs.
func params(kv ...string) sip.HeaderParams {
	p := sip.NewParams()
	for i := 0; i+1 < len(kv); i += 2 {
		p.Add(kv[i], kv[i+1])
	}
	return p
}
