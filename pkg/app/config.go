package app

import (
	"crypto/tls"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/netem"
	"github.com/callstat/callstat/pkg/signaling/token"
	"github.com/callstat/callstat/pkg/stats"
)

// DefaultServerURL is the signaling server a softphone connects to unless
// told otherwise: callstat serve's default address.
const DefaultServerURL = "ws://127.0.0.1:8080/ws"

// MinInterval is the shortest stats sampling interval (and reconnect
// delay) accepted.
const MinInterval = 10 * time.Millisecond

// Config is one softphone: where it connects, where its stats go, what it
// sends, and who watches. Validate checks the values; Open runs it.
type Config struct {
	// Identity is the participant id: the caller's id, or the id an
	// answering phone registers. Its stats go in this participant's ring.
	Identity string
	// Register registers Identity to receive calls (an answerer).
	Register bool
	// AnswerTimeout bounds how long a placed call may ring (0: no limit).
	AnswerTimeout time.Duration

	ServerURL string      // ws:// or wss://
	TLS       *tls.Config // for wss:// (nil: the system's roots)
	// Tokens are the token parameters for servers that require them
	// (LoadTokenParams); nil for none.
	Tokens *token.Params

	StorePath string
	Interval  time.Duration // stats sampling interval
	SDK       stats.SDKInfo // what every sample's SDK entry says (SDKInfo)

	Audio audio.Spec // what the phone sends (audio.ParseSpec)
	// RecordPath is the WAV file the audio received is written to (""
	// for none); with RecordEachCall each call gets its own file,
	// PerCallPath(RecordPath, call id).
	RecordPath     string
	RecordEachCall bool
	// Decode decodes the audio received to measure its level and energy;
	// false only counts its samples from the packets, far cheaper (a load
	// run's default). Recording needs it.
	Decode bool

	ICEServers  []string // stun:, stuns:, turn: or turns: URLs
	ICELoopback bool     // media over loopback addresses only
	// Network is the network conditions put on the phone's own packets
	// (netem.Parse); the zero value puts none.
	Network netem.Conditions
	// Reliability: zero means the call package's default.
	ICEDisconnectedTimeout time.Duration
	ICEFailedTimeout       time.Duration
	ReconnectDelay         time.Duration
	ReconnectAttempts      int

	// Logger is the process's logger; the softphone's entries are also
	// kept in the store from StoredLogLevel up.
	Logger         *slog.Logger
	StoredLogLevel slog.Level

	// Observers see calls and samples as they happen (a live status
	// view, the events stream), in this order, after the stats
	// collector; Hooks are the caller's own call hooks, after them.
	Observers []Observer
	Hooks     call.Hooks
}

// Observer watches a softphone's calls as they happen: a status view, an
// events stream (pkg/events.Writer is one), a load run's tally. Its
// hooks and methods run on the phone's and the collector's goroutines and
// must not block.
type Observer interface {
	Hooks() call.Hooks
	OnSample(stats.Sample)
	OnSampleError(callID, participant string, err error)
}

// SDKInfo is what the SDK entry of every sample says about this process.
func SDKInfo(version, instanceID string) stats.SDKInfo {
	return stats.SDKInfo{SDK: "callstat", Version: version, InstanceID: instanceID, Platform: stats.DefaultPlatform()}
}

// Validate checks the values a softphone needs before anything is opened;
// a bad value is a *ConfigError naming the setting. A zero timeout or
// reconnect setting means the default.
func (c *Config) Validate() error {
	u, err := url.Parse(c.ServerURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return ConfigErrorf("invalid %s %q: want a ws:// or wss:// URL such as %s", SettingServerURL, c.ServerURL, DefaultServerURL)
	}
	if c.StorePath == "" {
		return ConfigErrorf("%s must not be empty", SettingStorePath)
	}
	if c.RecordPath != "" {
		dir := filepath.Dir(c.RecordPath)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return ConfigErrorf("invalid %s %q: directory %s does not exist", SettingRecordPath, c.RecordPath, dir)
		}
		if st, err := os.Stat(c.RecordPath); err == nil && st.IsDir() {
			return ConfigErrorf("invalid %s %q: it is a directory; give a file name such as %s",
				SettingRecordPath, c.RecordPath, filepath.Join(c.RecordPath, "received.wav"))
		}
		if !c.Decode {
			return ConfigErrorf("%s needs the audio decoded: drop %s=false", SettingRecordPath, SettingDecode)
		}
	}
	if c.Interval < MinInterval {
		return ConfigErrorf("invalid %s %s: must be at least %s", SettingInterval, c.Interval, MinInterval)
	}
	if c.ICEDisconnectedTimeout < 0 || c.ICEFailedTimeout < 0 {
		return ConfigErrorf("%s and %s must not be negative", SettingICEDisconnectedTimeout, SettingICEFailedTimeout)
	}
	if c.ReconnectAttempts < 0 {
		return ConfigErrorf("%s must not be negative", SettingReconnectAttempts)
	}
	if c.ReconnectDelay < 0 || (c.ReconnectDelay > 0 && c.ReconnectDelay < MinInterval) {
		return ConfigErrorf("invalid %s %s: must be at least %s", SettingReconnectDelay, c.ReconnectDelay, MinInterval)
	}
	if err := c.Network.Validate(); err != nil {
		return ConfigErrorf("invalid %s: %v", SettingNetwork, err)
	}
	for _, s := range c.ICEServers {
		if !strings.HasPrefix(s, "stun:") && !strings.HasPrefix(s, "stuns:") &&
			!strings.HasPrefix(s, "turn:") && !strings.HasPrefix(s, "turns:") {
			return ConfigErrorf("invalid %s %q: want a stun:, stuns:, turn: or turns: URL", SettingICEServers, s)
		}
	}
	return nil
}

// iceServers converts ICEServers for pion.
func (c *Config) iceServers() []webrtc.ICEServer {
	if len(c.ICEServers) == 0 {
		return nil
	}
	return []webrtc.ICEServer{{URLs: c.ICEServers}}
}

// recordPath names each call's RecordPath file.
func (c *Config) recordPath() func(*call.Call) string {
	if c.RecordPath == "" {
		return nil
	}
	path := c.RecordPath
	if !c.RecordEachCall {
		return func(*call.Call) string { return path }
	}
	return func(cl *call.Call) string { return PerCallPath(path, cl.ID()) }
}

// PerCallPath inserts "-<callID>" before path's extension:
// received.wav → received-<callID>.wav.
func PerCallPath(path, callID string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + callID + ext
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
