// Package app is callstat's application without its command line: a
// softphone assembled from a Config (store, stats collector, audio, phone,
// observers) and closed in the order that loses nothing; placing a call,
// answering calls, a load run (package load), the demo, writing stats
// files, and the signaling and token servers. The commands, and anything
// else that runs softphones, parse their input into these types and call
// these functions.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/netem"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/collect"
	"github.com/callstat/callstat/pkg/stats/report"
	"github.com/callstat/callstat/pkg/stats/store"
)

// incomingQueue is how many received calls may wait for the answering
// loop to take them.
const incomingQueue = 4096

// summaryTimeout bounds reading a finished call's summary from the store.
const summaryTimeout = 30 * time.Second

// Softphone is a running phone with everything it needs: the stats store
// and collector, the audio source, and the phone itself. Close releases
// them in the order that loses nothing.
type Softphone struct {
	Store     *store.Store
	Collector *collect.Collector
	Source    *audio.Source
	Phone     *call.Phone
	// Network applies Config.Network to the phone's packets and counts
	// what it did to them; nil without conditions.
	Network *netem.Emulator
	// Log is the phone's logger: its entries are also kept in the store
	// (the participant's last stats.MaxLogEntries), committed with the
	// stats. Log a call's outcome here before Close.
	Log *slog.Logger

	cfg Config
}

// Open opens the store first (so that nothing is dialled when stats could
// not be kept), then the audio, then connects (and registers, with
// cfg.Register). cfg must have passed Validate.
func Open(ctx context.Context, cfg Config) (*Softphone, error) {
	creds, regToken, err := cfg.credentials()
	if err != nil {
		return nil, err
	}
	logs := collect.NewLogBuffer(cfg.StoredLogLevel)
	log := slog.New(logs.Handler(cfg.logger().Handler(), cfg.Identity))
	sp := &Softphone{Log: log, cfg: cfg}
	st, err := store.Open(ctx, cfg.StorePath)
	if err != nil {
		return nil, err
	}
	sp.Store = st
	sp.Collector = collect.New(collect.Config{
		Sink: st, Interval: cfg.Interval, SDK: cfg.SDK, Logger: log, Logs: logs,
		OnSample: onSample(cfg.Observers), OnSampleError: onSampleError(cfg.Observers),
		// Samples the store refuses (a full disk) end up next to it, or
		// in the temporary directory when that disk is the full one.
		FallbackDirs: []string{filepath.Dir(cfg.StorePath), os.TempDir()},
	})
	src, err := audio.Open(ctx, cfg.Audio, log)
	if err != nil {
		_ = sp.Close()
		return nil, err
	}
	sp.Source = src
	// The collector's hooks first: a call's end is committed before
	// anyone else hears of it.
	hooks := collectStatsHooks(sp.Collector, log)
	for _, o := range cfg.Observers {
		hooks = hooks.Join(o.Hooks())
	}
	if cfg.Network.Active() {
		em, err := netem.New(cfg.Network, netem.Options{Logger: log})
		if err != nil {
			_ = sp.Close()
			return nil, err
		}
		sp.Network = em
		log.Info("network conditions on this phone's packets", "network", cfg.Network.String())
	}
	ph, err := call.NewPhone(ctx, call.Config{
		TLSConfig:              cfg.TLS,
		Credentials:            creds,
		RegisterToken:          regToken,
		ServerURL:              cfg.ServerURL,
		Identity:               cfg.Identity,
		Register:               cfg.Register,
		Source:                 src,
		RecordPath:             cfg.recordPath(),
		SkipDecode:             !cfg.Decode,
		ICEServers:             cfg.iceServers(),
		ICELoopback:            cfg.ICELoopback,
		Network:                sp.Network,
		Logger:                 log,
		ICEDisconnectedTimeout: cfg.ICEDisconnectedTimeout,
		ICEFailedTimeout:       cfg.ICEFailedTimeout,
		ReconnectDelay:         cfg.ReconnectDelay,
		ReconnectAttempts:      cfg.ReconnectAttempts,
		Hooks:                  hooks.Join(cfg.Hooks),
		AnswerTimeout:          cfg.AnswerTimeout,
		// An answerer takes every call: a burst of hundreds (a load run)
		// waits for it rather than being refused as busy.
		IncomingQueue: incomingQueue,
	})
	if err != nil {
		_ = sp.Close()
		return nil, err
	}
	sp.Phone = ph
	return sp, nil
}

func onSample(obs []Observer) func(stats.Sample) {
	return func(s stats.Sample) {
		for _, o := range obs {
			o.OnSample(s)
		}
	}
}

func onSampleError(obs []Observer) func(callID, participant string, err error) {
	return func(callID, participant string, err error) {
		for _, o := range obs {
			o.OnSampleError(callID, participant, err)
		}
	}
}

// Close hangs up, flushes the stats and logs, and closes everything. It
// returns an error wrapping ErrStore if samples could not be written.
// The observers are the caller's to close, after this.
func (sp *Softphone) Close() error {
	if sp.Phone != nil {
		_ = sp.Phone.Close()
	}
	var storeErr error
	if sp.Collector != nil {
		if err := sp.Collector.Close(); err != nil {
			storeErr = fmt.Errorf("%w: %v", ErrStore, err)
		}
	}
	if sp.Source != nil {
		_ = sp.Source.Close()
	}
	if sp.Store != nil {
		_ = sp.Store.Close()
	}
	return storeErr
}

// CallSummary reads a finished call's summary from the store: the figures
// "callstat summary" shows for it. The call's end must have been committed
// (its CallEnding hooks have run). Failing is logged.
func (sp *Softphone) CallSummary(c *call.Call) (report.CallSummary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), summaryTimeout)
	defer cancel()
	log := sp.cfg.logger()
	sum, err := sp.Store.SummarizeCall(ctx, c.Local(), c.ID())
	if errors.Is(err, store.ErrNoParticipant) {
		// More calls than the ring holds ran at once: this one was
		// evicted while it ran.
		log.Debug("no summary: the call was evicted from the ring while it ran", "call", c.ID())
		return sum, err
	}
	if err != nil {
		log.Warn("could not summarise the call", "call", c.ID(), "err", err)
	}
	return sum, err
}

// Describe is a one-line account of how a call ended, for humans.
func Describe(c *call.Call) string {
	t := c.Transition()
	var dur time.Duration
	if !c.ConnectedAt().IsZero() {
		dur = c.EndedAt().Sub(c.ConnectedAt()).Round(10 * time.Millisecond)
	}
	s := fmt.Sprintf("call %s %s %s: %s", c.ID(), map[call.Direction]string{call.Outgoing: "to", call.Incoming: "from"}[c.Direction()],
		c.Remote(), c.State())
	if t.StatusCode != 0 || t.ReasonText != "" {
		s += fmt.Sprintf(" (%d %s)", t.StatusCode, t.ReasonText)
	}
	if dur > 0 {
		s += fmt.Sprintf(" after %s connected, setup %s", dur, c.SetupTime().Round(time.Millisecond))
	}
	return s
}

// collectStatsHooks returns hooks that start collecting a call's stats when
// it starts (placed or received) and stop, with a last sample, when it
// ends. log is the phone's logger.
func collectStatsHooks(col *collect.Collector, log *slog.Logger) call.Hooks {
	return call.Hooks{
		CallStarted: func(c *call.Call) { col.Start(c, c.Record()) },
		CallEnding: func(c *call.Call) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := col.Stop(ctx, c.EndRecord(), true); err != nil {
				log.With("participant", c.Local(), "call", c.ID()).Error("could not store the call's last stats", "err", err)
			}
		},
	}
}
