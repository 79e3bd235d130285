package cmdutil

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/spf13/cobra"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/signaling/token"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/store"
)

// ClientFlags are the flags every softphone command (call, answer) shares.
type ClientFlags struct {
	Server      string
	Store       string
	Audio       string
	Interval    time.Duration
	ICELoopback bool
	ICEServers  []string
	Record      string
	// Decode is --decode: decode the audio received to measure it; false
	// only counts it (load mode's default).
	Decode bool
	// Reliability: ICE failure detection and signaling reconnection.
	ICEDisconnectedTimeout time.Duration
	ICEFailedTimeout       time.Duration
	ReconnectDelay         time.Duration
	ReconnectAttempts      int
	// Events is --events: a file, "-" for stdout, or "" for none.
	Events string
	// Live, when set, is shared by several softphones of one process
	// (demo); otherwise OpenSoftphone opens one from Events.
	Live      *Live
	CAFile    string // security.go
	TokenFile string
	TokenURL  string

	AudioSpec audio.Spec
	// RecordEachCall names one --record file per call (answer, which may
	// carry several calls); otherwise --record is the file itself.
	RecordEachCall bool
	// OnSample, when set in code (load mode), sees every stats sample
	// after the live view; it must not block.
	OnSample func(stats.Sample)
	envErr   error         // a bad environment variable, reported by Validate
	TLS      *tls.Config   // from CAFile, by Validate
	Tokens   *token.Params // by LoadTokens
}

// AddClientFlags registers the shared flags with defaults from the
// environment.
func AddClientFlags(cmd *cobra.Command, f *Factory, o *ClientFlags) {
	fl := cmd.Flags()
	fl.StringVar(&o.Server, "server", f.EnvOr(EnvServer, DefaultServer), "signaling server WebSocket URL (env "+EnvServer+")")
	fl.StringVar(&o.Store, "store", f.DefaultStorePath(), "stats store file (env "+EnvStore+")")
	fl.StringVar(&o.Audio, "audio", audio.DefaultSpec, "audio to send: mic[:device], file:PATH.wav, tone[:Hz] or silence")
	fl.StringVar(&o.Record, "record", "", "write the audio received to this WAV file (answer: one file per call, the call id inserted before the extension)")
	fl.DurationVar(&o.Interval, "interval", stats.DefaultInterval, "stats sampling interval")
	fl.BoolVar(&o.Decode, "decode", true, "decode the audio received to measure its level and energy (false: count its samples from the packets only, far cheaper; load mode's default)")
	fl.BoolVar(&o.ICELoopback, "ice-loopback", false, "use loopback addresses only for media (tests and demos on one host)")
	fl.StringSliceVar(&o.ICEServers, "ice-server", nil, "STUN/TURN server URL, repeatable (e.g. stun:stun.example.com:3478)")
	fl.StringVar(&o.CAFile, "ca-file", "", "PEM file of the CA certificates to trust for wss:// and https:// (default: the system's)")
	fl.StringVar(&o.TokenFile, "token-file", "", `token parameters {"realm","accountToken","fromToken","toToken","caller","callee"} ("-": stdin)`)
	fl.StringVar(&o.TokenURL, "token-url", "", "fetch the token parameters with GET from this URL (e.g. http://127.0.0.1:3000/callparameters)")
	fl.DurationVar(&o.ICEDisconnectedTimeout, "ice-disconnected-timeout", call.DefaultICEDisconnectedTimeout,
		"media is disconnected after receiving nothing from the far end for this long")
	fl.DurationVar(&o.ICEFailedTimeout, "ice-failed-timeout", call.DefaultICEFailedTimeout,
		"a disconnected call fails (and ends) after this much longer")
	fl.DurationVar(&o.ReconnectDelay, "reconnect-delay", call.DefaultReconnectDelay,
		"wait before redialling a lost signaling server; doubles after each failed attempt")
	fl.IntVar(&o.ReconnectAttempts, "reconnect-attempts", call.DefaultReconnectAttempts,
		"how many times to redial a lost signaling server (0: never)")
	for _, b := range []struct{ flag, env string }{
		{"audio", EnvAudio}, {"interval", EnvInterval}, {"ice-loopback", EnvICELoopback}, {"ice-server", EnvICEServers},
		{"ca-file", EnvCAFile}, {"token-file", EnvTokenFile}, {"token-url", EnvTokenURL},
	} {
		if err := BindEnv(f, fl, b.flag, b.env); err != nil && o.envErr == nil {
			o.envErr = err
		}
	}
	AddEventsFlag(cmd, &o.Events)
}

// Validate checks the shared flags; it is called from each command's
// constructor, so bad values fail before anything starts.
func (o *ClientFlags) Validate() error {
	if o.envErr != nil {
		return o.envErr
	}
	u, err := url.Parse(o.Server)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return FlagErrorf("invalid --server %q: want a ws:// or wss:// URL such as %s", o.Server, DefaultServer)
	}
	if o.Store == "" {
		return FlagErrorf("--store must not be empty")
	}
	spec, err := audio.ParseSpec(o.Audio)
	if err != nil {
		return &FlagError{Err: err}
	}
	o.AudioSpec = spec
	if o.Record != "" {
		dir := filepath.Dir(o.Record)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return FlagErrorf("invalid --record %q: directory %s does not exist", o.Record, dir)
		}
		if st, err := os.Stat(o.Record); err == nil && st.IsDir() {
			return FlagErrorf("invalid --record %q: it is a directory; give a file name such as %s", o.Record, filepath.Join(o.Record, "received.wav"))
		}
	}
	if o.Record != "" && !o.Decode {
		return FlagErrorf("--record needs the audio decoded: drop --decode=false")
	}
	if o.Interval < 10*time.Millisecond {
		return FlagErrorf("invalid --interval %s: must be at least 10ms", o.Interval)
	}
	// Zero (a ClientFlags built in code, as demo does) means the default.
	if o.ICEDisconnectedTimeout < 0 || o.ICEFailedTimeout < 0 {
		return FlagErrorf("--ice-disconnected-timeout and --ice-failed-timeout must not be negative")
	}
	if o.ReconnectAttempts < 0 {
		return FlagErrorf("--reconnect-attempts must not be negative")
	}
	if o.ReconnectDelay < 0 || (o.ReconnectDelay > 0 && o.ReconnectDelay < 10*time.Millisecond) {
		return FlagErrorf("invalid --reconnect-delay %s: must be at least 10ms", o.ReconnectDelay)
	}
	for _, s := range o.ICEServers {
		if !strings.HasPrefix(s, "stun:") && !strings.HasPrefix(s, "stuns:") &&
			!strings.HasPrefix(s, "turn:") && !strings.HasPrefix(s, "turns:") {
			return FlagErrorf("invalid --ice-server %q: want a stun:, stuns:, turn: or turns: URL", s)
		}
	}
	return o.validateSecurity()
}

// ICEServerList converts --ice-server values for pion.
func (o *ClientFlags) ICEServerList() []webrtc.ICEServer {
	if len(o.ICEServers) == 0 {
		return nil
	}
	return []webrtc.ICEServer{{URLs: o.ICEServers}}
}

// recordPath names each call's --record file.
func (o *ClientFlags) recordPath() func(*call.Call) string {
	if o.Record == "" {
		return nil
	}
	if !o.RecordEachCall {
		return func(*call.Call) string { return o.Record }
	}
	return func(c *call.Call) string { return PerCallPath(o.Record, c.ID()) }
}

// PerCallPath inserts "-<callID>" before path's extension:
// received.wav → received-<callID>.wav.
func PerCallPath(path, callID string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + callID + ext
}

// Softphone is everything a calling command runs: store, collector, audio
// source, phone, and what is shown live. Close releases them in the order
// that loses nothing.
type Softphone struct {
	Store     *store.Store
	Collector *stats.Collector
	Source    *audio.Source
	Phone     *call.Phone

	printMu sync.Mutex // one summary table at a time
	Live    *Live
	// Log is the phone's logger: its entries are also kept in the store
	// (the participant's last stats.MaxLogEntries), committed with the
	// stats. Log a call's outcome here before Close.
	Log *slog.Logger

	ownLive bool
}

// incomingQueue is how many received calls may wait for answer to take
// them.
const incomingQueue = 4096

// OpenSoftphone opens the store first (so that nothing is dialled when
// stats could not be kept), then the audio, then connects.
func OpenSoftphone(ctx context.Context, f *Factory, o *ClientFlags, identity string, register bool, hooks call.Hooks, answerTimeout time.Duration) (*Softphone, error) {
	creds, regToken, err := o.credentials(identity, register)
	if err != nil {
		return nil, err
	}
	sp := &Softphone{Live: o.Live}
	if sp.Live == nil {
		live, err := OpenLive(f, o.Events)
		if err != nil {
			return nil, err
		}
		sp.Live, sp.ownLive = live, true
	}
	logs := stats.NewLogBuffer(f.StoredLogLevel())
	log := slog.New(logs.Handler(f.Logger.Handler(), identity))
	sp.Log = log
	st, err := store.Open(ctx, o.Store)
	if err != nil {
		sp.Close()
		return nil, err
	}
	sp.Store = st
	sp.Collector = stats.NewCollector(stats.CollectorConfig{
		Sink: st, Interval: o.Interval, SDK: f.SDKInfo(), Logger: log, Logs: logs,
		OnSample: onSample(sp.Live, o.OnSample), OnSampleError: sp.Live.OnSampleError,
		// Samples the store refuses (a full disk) end up next to it, or
		// in the temporary directory when that disk is the full one.
		FallbackDirs: []string{filepath.Dir(o.Store), os.TempDir()},
	})
	src, err := audio.Open(ctx, o.AudioSpec, log)
	if err != nil {
		sp.Close()
		if o.AudioSpec.Kind == audio.KindMic && errors.Is(err, audio.ErrUserMedia) {
			err = fmt.Errorf("%w; use --audio tone or --audio file:PATH.wav to call without a microphone, or pick a device listed by 'callstat devices'", err)
		}
		return nil, err
	}
	sp.Source = src
	ph, err := call.NewPhone(ctx, call.Config{
		TLSConfig:              o.TLS,
		Credentials:            creds,
		RegisterToken:          regToken,
		ServerURL:              o.Server,
		Identity:               identity,
		Register:               register,
		Source:                 src,
		RecordPath:             o.recordPath(),
		SkipDecode:             !o.Decode,
		ICEServers:             o.ICEServerList(),
		ICELoopback:            o.ICELoopback,
		Logger:                 log,
		ICEDisconnectedTimeout: o.ICEDisconnectedTimeout,
		ICEFailedTimeout:       o.ICEFailedTimeout,
		ReconnectDelay:         o.ReconnectDelay,
		ReconnectAttempts:      o.ReconnectAttempts,
		Hooks:                  call.CollectStatsHooks(sp.Collector).Join(sp.Live.Hooks()).Join(hooks),
		AnswerTimeout:          answerTimeout,
		// answer takes every call: a burst of hundreds (a load run)
		// waits for it rather than being refused as busy.
		IncomingQueue: incomingQueue,
	})
	if err != nil {
		sp.Close()
		return nil, err
	}
	sp.Phone = ph
	return sp, nil
}

func onSample(live *Live, extra func(stats.Sample)) func(stats.Sample) {
	if extra == nil {
		return live.OnSample
	}
	return func(s stats.Sample) {
		live.OnSample(s)
		extra(s)
	}
}

// Close hangs up, flushes stats and logs, writes out the events and closes
// everything. It returns a store error if samples could not be written, and
// an events error if the stream is incomplete.
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
	var liveErr error
	if sp.ownLive {
		liveErr = sp.Live.Close()
	}
	if sp.Source != nil {
		_ = sp.Source.Close()
	}
	if sp.Store != nil {
		_ = sp.Store.Close()
	}
	return errors.Join(storeErr, liveErr)
}

// OpenStoreToRead opens an existing store for the commands that read one
// (dump, summary): a missing file is "nothing stored" (exit 12), not a new
// empty store.
func OpenStoreToRead(ctx context.Context, path string) (*store.Store, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no store at %s (set --store or %s)", store.ErrNoParticipant, path, EnvStore)
	}
	return store.Open(ctx, path)
}

// PrintCallSummary reads a finished call's summary from the store, the
// figures "callstat summary" would show for it, and shows it on stderr
// (WriteSummaries). Failing to read it is logged, not fatal.
func PrintCallSummary(f *Factory, sp *Softphone, c *call.Call) (stats.CallSummary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := sp.Store.SummarizeCall(ctx, c.Local(), c.ID())
	if errors.Is(err, store.ErrNoParticipant) {
		// More calls than the ring holds ran at once: this one was
		// evicted while it ran, as the seed's ring would have it.
		f.Logger.Debug("no summary: the call was evicted from the ring while it ran", "call", c.ID())
		return sum, err
	}
	if err != nil {
		f.Logger.Warn("could not summarise the call", "call", c.ID(), "err", err)
		return sum, err
	}
	sp.printMu.Lock()
	defer sp.printMu.Unlock()
	return sum, WriteSummaries(f, []stats.CallSummary{sum})
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

// Discard is a logger that drops everything.
var Discard = slog.New(slog.DiscardHandler)
