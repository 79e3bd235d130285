// Package democmd implements "callstat demo": server, answerer and caller in
// one process over loopback.
package democmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/cmd/callstat/internal/dumpcmd"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/store"
)

// Demo participants.
const (
	Callee = "alice@example.com"
	Caller = "bob@example.com"
)

// Options are demo's flags and dependencies.
type Options struct {
	Factory     *cmdutil.Factory
	Out         string
	Store       string
	Calls       int
	Duration    time.Duration
	Interval    time.Duration
	ICELoopback bool
	Events      string
}

// NewCmdDemo builds the command; runF replaces the run function in tests.
func NewCmdDemo(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a server, an answerer and a caller in one process and show the result",
		Long: `Start a signaling server on a free loopback port, register ` + Callee + ` (sending a
440 Hz tone) and auto-answer, then call it from ` + Caller + ` (sending 880 Hz) --calls
times for --duration each. Both participants' stats are written as stats files
under --out/<participant>/, and a per-call summary table is printed.

Media uses loopback addresses only: nothing leaves the machine. With
--events, both participants' events go to one stream; with --events - the
file paths and the table go to stderr, so that stdout carries events only.`,
		Example: `  callstat demo
  callstat demo --calls 3 --duration 5s --out artifacts/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Calls < 1 {
				return cmdutil.FlagErrorf("--calls must be at least 1")
			}
			if opts.Duration <= 0 || opts.Interval < 10*time.Millisecond {
				return cmdutil.FlagErrorf("--duration must be positive and --interval at least 10ms")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Out, "out", "o", "demo-output", "directory for the stats files")
	cmd.Flags().StringVar(&opts.Store, "store", "", "stats store file (default: a temporary store, removed afterwards)")
	cmd.Flags().IntVar(&opts.Calls, "calls", 2, "number of calls to place")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 3*time.Second, "length of each call once connected")
	cmd.Flags().DurationVar(&opts.Interval, "interval", stats.DefaultInterval, "stats sampling interval")
	cmd.Flags().BoolVar(&opts.ICELoopback, "ice-loopback", true, "use loopback addresses only for media")
	cmdutil.AddEventsFlag(cmd, &opts.Events)
	return cmd
}

// Run runs the demo.
func Run(ctx context.Context, opts *Options) (err error) {
	f := opts.Factory
	storePath := opts.Store
	if storePath == "" {
		dir, err := os.MkdirTemp("", "callstat-demo-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		storePath = filepath.Join(dir, "callstat.db")
	}

	// The signaling server, on a free loopback port.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: listening on loopback: %w", err)
	}
	srv := signaling.NewServer(signaling.ServerConfig{Logger: f.Logger, Software: "callstat/" + f.Build.Version})
	srvCtx, stopServer := context.WithCancel(context.Background())
	serverDone := make(chan error, 1)
	go func() { serverDone <- srv.Serve(srvCtx, ln, srv.Handler(), 5*time.Second) }()
	defer func() {
		stopServer()
		if serr := <-serverDone; serr != nil && err == nil {
			err = serr
		}
	}()
	url := "ws://" + ln.Addr().String() + "/ws"
	f.Logger.Info("demo: signaling server listening", "ws", url)

	live, err := cmdutil.OpenLive(f, opts.Events)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, live.Close()) }()
	out := f.IO.Out
	if live.EventsOnStdout() {
		out = f.IO.ErrOut
	}

	flags := func(audio string) *cmdutil.ClientFlags {
		cf := &cmdutil.ClientFlags{Server: url, Store: storePath, Audio: audio, Interval: opts.Interval, Decode: true, ICELoopback: opts.ICELoopback, Live: live}
		if verr := cf.Validate(); verr != nil {
			panic(verr) // constant, valid values
		}
		return cf
	}

	// The answerer.
	alice, err := cmdutil.OpenSoftphone(ctx, f, flags("tone:440"), Callee, true, call.Hooks{}, 0)
	if err != nil {
		return err
	}
	var answering sync.WaitGroup
	answered := make(chan *call.Call, opts.Calls)
	answering.Add(1)
	go func() {
		defer answering.Done()
		for c := range alice.Phone.Incoming() {
			if aerr := c.Answer(ctx); aerr != nil {
				f.Logger.Warn("demo: answer failed", "err", aerr)
			}
			select {
			case answered <- c:
			default:
			}
		}
	}()
	closeAlice := func() error {
		cerr := alice.Close() // closes Incoming, which ends the answering loop
		answering.Wait()
		return cerr
	}

	// The caller.
	bob, err := cmdutil.OpenSoftphone(ctx, f, flags("tone:880"), Caller, false, call.Hooks{}, 30*time.Second)
	if err != nil {
		return errors.Join(err, closeAlice())
	}
	var callErrs []error
	for i := 1; i <= opts.Calls && ctx.Err() == nil; i++ {
		f.Logger.Info("demo: placing a call", "n", i, "of", opts.Calls, "from", Caller, "to", Callee, "duration", opts.Duration)
		if cerr := placeCall(ctx, bob.Phone, opts.Duration, answered); cerr != nil {
			callErrs = append(callErrs, cerr)
		}
	}
	closeErr := errors.Join(bob.Close(), closeAlice())
	if ctx.Err() != nil {
		return errors.Join(fmt.Errorf("demo: %w", call.ErrInterrupted), closeErr)
	}
	if closeErr != nil {
		return closeErr
	}

	// The stats files and the summary.
	st, err := store.Open(ctx, storePath)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	for _, p := range []string{Caller, Callee} {
		path, n, werr := dumpcmd.Write(ctx, st, p, filepath.Join(opts.Out, p), out, stats.StatsFileName(f.Now(), f.Build.Version))
		if werr != nil {
			return werr
		}
		fmt.Fprintf(out, "%s: %d calls -> %s\n", p, n, path)
	}
	rows, err := st.Summarize(ctx, Caller)
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	if err := cmdutil.PrintSummaryTable(out, rows); err != nil {
		return err
	}
	return errors.Join(callErrs...)
}

// placeCall makes one call and returns once both ends have finished it, so
// that the answerer's record holds the caller's hang-up too.
func placeCall(ctx context.Context, ph *call.Phone, d time.Duration, answered <-chan *call.Call) error {
	c, err := ph.Dial(ctx, Callee)
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
		case <-time.After(5 * time.Second):
		}
	default: // never answered
	}
	return c.Err()
}
