package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/stats/report"
)

// CallConfig is one outgoing call.
type CallConfig struct {
	Callee string
	// Duration hangs up this long after the call connects (0: wait for
	// the far end, or ctx).
	Duration time.Duration
	// Placed, if set, sees the call once it is dialled (the call command
	// prints its id).
	Placed func(*call.Call)
	// Ended, if set, sees the call once it has ended, with its summary
	// from the store (or the error reading it), before the softphone
	// closes.
	Ended func(c *call.Call, sum report.CallSummary, err error)
}

// CallResult is how a call placed by Call went.
type CallResult struct {
	Call       *call.Call // nil when it could not be dialled
	Summary    report.CallSummary
	SummaryErr error // why Summary could not be read
}

// Call opens a softphone for cfg, places one call, holds it (Hold) and
// closes the softphone. The error is the call's failure (wrapping the call
// package's sentinel errors), its recording's, or the store's (ErrStore).
func Call(ctx context.Context, cfg Config, cc CallConfig) (CallResult, error) {
	var res CallResult
	sp, err := Open(ctx, cfg)
	if err != nil {
		return res, err
	}
	c, err := sp.Phone.Dial(ctx, cc.Callee)
	if err != nil {
		return res, errors.Join(err, sp.Close())
	}
	res.Call = c
	if cc.Placed != nil {
		cc.Placed(c)
	}
	Hold(ctx, c, cc.Duration, nil)
	// The call's last sample and end are committed before Done closes.
	res.Summary, res.SummaryErr = sp.CallSummary(c)
	if cc.Ended != nil {
		cc.Ended(c, res.Summary, res.SummaryErr)
	}
	sp.Log.Info(Describe(c))
	storeErr := sp.Close()
	if err := c.Err(); err != nil {
		return res, errors.Join(fmt.Errorf("call %s: %w", c.ID(), err), storeErr)
	}
	if err := c.RecordErr(); err != nil {
		return res, errors.Join(fmt.Errorf("call %s: %w", c.ID(), err), storeErr)
	}
	if cfg.RecordPath != "" && c.ReceivedAudio().TotalSamplesReceived > 0 {
		cfg.logger().Info("received audio recorded", "file", cfg.RecordPath)
	}
	return res, storeErr
}

// Hold keeps a call until it has ended: once it is connected, it hangs up
// after duration (0: never, the far end ends it); a cancelled ctx (a
// signal) hangs up at once. onConnected, if not nil, runs when the call
// connects. Hold reports whether the call connected.
func Hold(ctx context.Context, c *call.Call, duration time.Duration, onConnected func()) bool {
	defer func() { <-c.Done() }()
	select {
	case <-c.Connected():
	case <-ctx.Done():
		c.Hangup("interrupted by signal")
		return false
	case <-c.Done():
		return false
	}
	if onConnected != nil {
		onConnected()
	}
	var timeout <-chan time.Time
	if duration > 0 {
		t := time.NewTimer(duration)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		c.Hangup(fmt.Sprintf("call duration %s reached", duration))
	case <-ctx.Done():
		c.Hangup("interrupted by signal")
	case <-c.Done():
	}
	return true
}
