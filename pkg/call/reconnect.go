package call

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/callstat/callstat/pkg/signaling"
)

// Defaults of the reliability settings: pion's ICE timeouts, and the
// reconnection the SDK makes after its WebSocket drops (5 s, 5 attempts).
const (
	DefaultICEDisconnectedTimeout = 5 * time.Second
	DefaultICEFailedTimeout       = 25 * time.Second
	DefaultReconnectDelay         = 5 * time.Second
	DefaultReconnectAttempts      = 5
	// maxReconnectDelay caps the doubling wait between attempts.
	maxReconnectDelay = time.Minute
	// reconnectTimeout bounds one attempt: dial, welcome, registration.
	reconnectTimeout = 10 * time.Second
)

// SignalingState is where a phone stands with its signaling server.
type SignalingState string

// Signaling states, in the order a drop goes through them.
const (
	SignalingDisconnected SignalingState = "disconnected" // the connection dropped
	SignalingReconnecting SignalingState = "reconnecting" // waiting before an attempt
	SignalingConnected    SignalingState = "connected"    // reconnected (and registered again)
	SignalingLost         SignalingState = "lost"         // no attempt left: SignalingDone is closed
)

// SignalingChange is one step of losing and regaining the signaling server.
type SignalingChange struct {
	State SignalingState
	// Attempt counts reconnection attempts from 1 (reconnecting, connected).
	Attempt int
	// Delay is the wait before this attempt (reconnecting).
	Delay time.Duration
	// Err is why the connection dropped (disconnected), why the previous
	// attempt failed (reconnecting), or why the phone gave up (lost).
	Err error
}

// reconnect redials the server with a doubling, jittered wait, and
// registers again. It returns the new connection, or nil when the phone
// closes or the attempts run out (sigErr then says why).
func (p *Phone) reconnect(cause error) signaling.Conn {
	delay := p.cfg.ReconnectDelay
	for attempt := 1; attempt <= p.cfg.ReconnectAttempts; attempt++ {
		wait := jitter(delay)
		p.log.Info("reconnecting to the signaling server", "attempt", attempt, "attempts", p.cfg.ReconnectAttempts,
			"in", wait.Round(time.Millisecond).String())
		p.signalingChanged(SignalingChange{State: SignalingReconnecting, Attempt: attempt, Delay: wait, Err: cause})
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			p.sigErr = fmt.Errorf("%w: %w", ErrSignalingLost, ErrClosed)
			return nil
		}
		ctx, cancel := context.WithTimeout(p.ctx, reconnectTimeout)
		sig, err := p.connect(ctx)
		cancel()
		if err == nil {
			p.mu.Lock()
			closed := p.closed
			if !closed {
				p.sig, p.connDone = sig, make(chan struct{})
			}
			p.mu.Unlock()
			if closed {
				_ = sig.Close()
				p.sigErr = fmt.Errorf("%w: %w", ErrSignalingLost, ErrClosed)
				return nil
			}
			p.log.Info("reconnected to the signaling server", "attempt", attempt, "server", p.cfg.ServerURL)
			p.signalingChanged(SignalingChange{State: SignalingConnected, Attempt: attempt})
			return sig
		}
		if p.ctx.Err() != nil {
			p.sigErr = fmt.Errorf("%w: %w", ErrSignalingLost, ErrClosed)
			return nil
		}
		cause = err
		p.log.Warn("reconnection attempt failed", "attempt", attempt, "err", err)
		delay = min(2*delay, maxReconnectDelay)
	}
	if p.cfg.ReconnectAttempts > 0 {
		p.sigErr = fmt.Errorf("%w: gave up after %d reconnection attempts: %v", ErrSignalingLost, p.cfg.ReconnectAttempts, cause)
	} else {
		p.sigErr = fmt.Errorf("%w: %v", ErrSignalingLost, cause)
	}
	p.signalingChanged(SignalingChange{State: SignalingLost, Err: p.sigErr})
	return nil
}

// jitter spreads d by ±20 % so that the phones of a restarted server do
// not all come back in the same instant.
func jitter(d time.Duration) time.Duration {
	return d*4/5 + rand.N(d*2/5+1)
}

func (p *Phone) signalingChanged(ch SignalingChange) {
	if h := p.cfg.Hooks.SignalingChanged; h != nil {
		h(p, ch)
	}
}
