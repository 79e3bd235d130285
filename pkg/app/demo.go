package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/format"
	"github.com/callstat/callstat/pkg/stats/report"
	"github.com/callstat/callstat/pkg/stats/store"
)

// The demo's participants.
const (
	DemoCallee = "alice@example.com"
	DemoCaller = "bob@example.com"
)

// The demo's tones: the callee sends DemoCalleeHz, the caller DemoCallerHz.
const (
	DemoCalleeHz = 440
	DemoCallerHz = 880
)

// demoShutdownTimeout bounds stopping the demo's signaling server, and
// demoAnswerWait waiting for the answerer to finish a call the caller
// ended.
const (
	demoShutdownTimeout = 5 * time.Second
	demoAnswerWait      = 5 * time.Second
	demoAnswerTimeout   = 30 * time.Second
)

// DemoConfig is a demo run: a signaling server on a free loopback port,
// DemoCallee answering, DemoCaller calling it Calls times.
type DemoConfig struct {
	OutDir string // the stats files go in OutDir/<participant>/
	// StorePath is the stats store; "" for a temporary one, removed
	// afterwards.
	StorePath   string
	Calls       int
	Duration    time.Duration // each call, once connected
	Interval    time.Duration // stats sampling
	ICELoopback bool
	SDK         stats.SDKInfo // its Version also names the files
	Now         func() time.Time

	Logger         *slog.Logger
	StoredLogLevel slog.Level
	// Observers see both participants' calls (Config.Observers).
	Observers []Observer
}

// DemoResult is what the demo left.
type DemoResult struct {
	Files     []StatsFile          // the caller's, then the callee's
	Summaries []report.CallSummary // one per call, the caller's side
}

// StatsFile is a stats file written for a participant.
type StatsFile struct {
	Participant string
	Path        string
	Calls       int
}

// Demo runs the demo. The result holds the files written so far even when
// it fails; the error is the first call's failure, or why the demo could
// not run.
func Demo(ctx context.Context, cfg DemoConfig) (res DemoResult, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	storePath := cfg.StorePath
	if storePath == "" {
		dir, err := os.MkdirTemp("", "callstat-demo-")
		if err != nil {
			return res, err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		storePath = filepath.Join(dir, "callstat.db")
	}

	// The signaling server, on a free loopback port.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("demo: listening on loopback: %w", err)
	}
	srv := signaling.NewServer(signaling.ServerConfig{Logger: log, Software: "callstat/" + cfg.SDK.Version})
	srvCtx, stopServer := context.WithCancel(context.Background())
	serverDone := make(chan error, 1)
	go func() { serverDone <- srv.Serve(srvCtx, ln, srv.Handler(), demoShutdownTimeout) }()
	defer func() {
		stopServer()
		if serr := <-serverDone; serr != nil && err == nil {
			err = serr
		}
	}()
	url := "ws://" + ln.Addr().String() + "/ws"
	log.Info("demo: signaling server listening", "ws", url)

	phone := func(id string, hz float64) Config {
		return Config{Identity: id, ServerURL: url, StorePath: storePath, Interval: cfg.Interval, SDK: cfg.SDK,
			Audio: audio.Spec{Kind: audio.KindTone, Hz: hz}, Decode: true, ICELoopback: cfg.ICELoopback,
			Logger: log, StoredLogLevel: cfg.StoredLogLevel, Observers: cfg.Observers}
	}

	// The answerer, until the calls are over.
	answerCtx, stopAnswering := context.WithCancel(ctx)
	defer stopAnswering()
	registered := make(chan struct{})
	answered := make(chan *call.Call, cfg.Calls)
	answerDone := make(chan error, 1)
	go func() {
		answerDone <- Answer(answerCtx, phone(DemoCallee, DemoCalleeHz), AnswerConfig{
			Registered: func() { close(registered) },
			Answered: func(c *call.Call) {
				select {
				case answered <- c:
				default:
				}
			},
		})
	}()
	stopAlice := func() error {
		stopAnswering()
		return <-answerDone
	}
	select {
	case <-registered:
	case err := <-answerDone: // it could not open, or lost the server at once
		if err == nil {
			err = fmt.Errorf("demo: %w", call.ErrInterrupted)
		}
		return res, err
	}

	// The caller.
	caller := phone(DemoCaller, DemoCallerHz)
	caller.AnswerTimeout = demoAnswerTimeout
	bob, err := Open(ctx, caller)
	if err != nil {
		return res, errors.Join(err, stopAlice())
	}
	var callErrs []error
	for i := 1; i <= cfg.Calls && ctx.Err() == nil; i++ {
		log.Info("demo: placing a call", "n", i, "of", cfg.Calls, "from", DemoCaller, "to", DemoCallee, "duration", cfg.Duration)
		if cerr := placeDemoCall(ctx, bob.Phone, cfg.Duration, answered); cerr != nil {
			callErrs = append(callErrs, cerr)
		}
	}
	closeErr := errors.Join(bob.Close(), stopAlice())
	if ctx.Err() != nil {
		return res, errors.Join(fmt.Errorf("demo: %w", call.ErrInterrupted), closeErr)
	}
	if closeErr != nil {
		return res, closeErr
	}

	// The stats files and the summary.
	st, err := store.Open(ctx, storePath)
	if err != nil {
		return res, err
	}
	defer func() { _ = st.Close() }()
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	for _, p := range []string{DemoCaller, DemoCallee} {
		path, n, werr := WriteStatsFile(ctx, st, p, filepath.Join(cfg.OutDir, p), nil, format.StatsFileName(now(), cfg.SDK.Version))
		if werr != nil {
			return res, werr
		}
		res.Files = append(res.Files, StatsFile{Participant: p, Path: path, Calls: n})
	}
	if res.Summaries, err = st.Summarize(ctx, DemoCaller); err != nil {
		return res, err
	}
	return res, errors.Join(callErrs...)
}

// placeDemoCall makes one call and returns once both ends have finished
// it, so that the answerer's record holds the caller's hang-up too.
func placeDemoCall(ctx context.Context, ph *call.Phone, d time.Duration, answered <-chan *call.Call) error {
	c, err := ph.Dial(ctx, DemoCallee)
	if err != nil {
		return err
	}
	select {
	case <-c.Connected():
		t := time.NewTimer(d)
		select {
		case <-t.C:
			c.Hangup("demo call duration reached")
		case <-ctx.Done():
			c.Hangup("interrupted")
		case <-c.Done():
		}
		t.Stop()
	case <-ctx.Done():
		c.Hangup("interrupted")
	case <-c.Done():
	}
	<-c.Done()
	select {
	case in := <-answered:
		select {
		case <-in.Done():
		case <-time.After(demoAnswerWait):
		}
	default: // never answered
	}
	return c.Err()
}
