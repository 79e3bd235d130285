package cmdutil

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/netem"
	"github.com/callstat/callstat/pkg/signaling/token"
	"github.com/callstat/callstat/pkg/stats/collect"
)

// ClientFlags are the flags every softphone command (call, answer) shares;
// Config turns them into the application's configuration.
type ClientFlags struct {
	Server      string
	Store       string
	Audio       string
	Interval    time.Duration
	ICELoopback bool
	ICEServers  []string
	Network     string // --network, parsed into NetworkConditions by Validate
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
	Events    string
	CAFile    string // security.go
	TokenFile string
	TokenURL  string

	// RecordEachCall names one --record file per call (answer, which may
	// carry several calls); otherwise --record is the file itself.
	RecordEachCall bool

	// Set by Validate and LoadTokens.
	AudioSpec         audio.Spec
	NetworkConditions netem.Conditions
	TLS               *tls.Config   // from CAFile
	Tokens            *token.Params // by LoadTokens
	envErr            error         // a bad environment variable, reported by Validate
}

// clientFlagNames are the flags that set the application's settings.
var clientFlagNames = map[app.Setting]string{
	app.SettingServerURL:              "--server",
	app.SettingStorePath:              "--store",
	app.SettingRecordPath:             "--record",
	app.SettingDecode:                 "--decode",
	app.SettingInterval:               "--interval",
	app.SettingICEDisconnectedTimeout: "--ice-disconnected-timeout",
	app.SettingICEFailedTimeout:       "--ice-failed-timeout",
	app.SettingReconnectDelay:         "--reconnect-delay",
	app.SettingReconnectAttempts:      "--reconnect-attempts",
	app.SettingICEServers:             "--ice-server",
	app.SettingNetwork:                "--network",
}

// AddClientFlags registers the shared flags with defaults from the
// environment.
func AddClientFlags(cmd *cobra.Command, f *Factory, o *ClientFlags) {
	fl := cmd.Flags()
	fl.StringVar(&o.Server, "server", f.EnvOr(EnvServer, DefaultServer), "signaling server WebSocket URL (env "+EnvServer+")")
	fl.StringVar(&o.Store, "store", f.DefaultStorePath(), "stats store file (env "+EnvStore+")")
	fl.StringVar(&o.Audio, "audio", audio.DefaultSpec, "audio to send: mic[:device], file:PATH.wav, tone[:Hz] or silence")
	fl.StringVar(&o.Record, "record", "", "write the audio received to this WAV file (answer: one file per call, the call id inserted before the extension)")
	fl.DurationVar(&o.Interval, "interval", collect.DefaultInterval, "stats sampling interval")
	fl.BoolVar(&o.Decode, "decode", true, "decode the audio received to measure its level and energy (false: count its samples from the packets only, far cheaper; load mode's default)")
	fl.BoolVar(&o.ICELoopback, "ice-loopback", false, "use loopback addresses only for media (tests and demos on one host)")
	fl.StringVar(&o.Network, "network", "", "network conditions on this process's own packets, without root: a profile ("+networkProfiles()+
		") and/or delay=40ms,jitter=10ms,loss=5%,burst=3,rate=500kbit,dup=1% (up./down. for one direction; docs/network.md)")
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
		{"audio", EnvAudio}, {"interval", EnvInterval}, {"ice-loopback", EnvICELoopback}, {"ice-server", EnvICEServers}, {"network", EnvNetwork},
		{"ca-file", EnvCAFile}, {"token-file", EnvTokenFile}, {"token-url", EnvTokenURL},
	} {
		if err := BindEnv(f, fl, b.flag, b.env); err != nil && o.envErr == nil {
			o.envErr = err
		}
	}
	AddEventsFlag(cmd, &o.Events)
}

// Validate checks the shared flags; it is called from each command's
// constructor, so bad values fail before anything starts. The settings'
// values are the application's to judge (app.Config.Validate); a bad one
// is a usage error naming its flag.
func (o *ClientFlags) Validate() error {
	if o.envErr != nil {
		return o.envErr
	}
	spec, err := audio.ParseSpec(o.Audio)
	if err != nil {
		return &FlagError{Err: err}
	}
	o.AudioSpec = spec
	o.NetworkConditions = netem.Conditions{}
	if o.Network != "" {
		cond, err := netem.Parse(o.Network)
		if err != nil {
			return FlagErrorf("invalid --network: %v", err)
		}
		o.NetworkConditions = cond
	}
	cfg := o.settings()
	if err := cfg.Validate(); err != nil {
		return ConfigFlagError(err, clientFlagNames)
	}
	return o.validateSecurity()
}

// settings are the flags' values as the application's configuration,
// without what only the factory knows.
func (o *ClientFlags) settings() app.Config {
	return app.Config{
		ServerURL:              o.Server,
		TLS:                    o.TLS,
		Tokens:                 o.Tokens,
		StorePath:              o.Store,
		Interval:               o.Interval,
		Audio:                  o.AudioSpec,
		RecordPath:             o.Record,
		RecordEachCall:         o.RecordEachCall,
		Decode:                 o.Decode,
		ICEServers:             o.ICEServers,
		ICELoopback:            o.ICELoopback,
		Network:                o.NetworkConditions,
		ICEDisconnectedTimeout: o.ICEDisconnectedTimeout,
		ICEFailedTimeout:       o.ICEFailedTimeout,
		ReconnectDelay:         o.ReconnectDelay,
		ReconnectAttempts:      o.ReconnectAttempts,
	}
}

// Config is the softphone the flags describe, for identity, logging
// through the factory's logger and watched by observers. Call it after
// Validate (and LoadTokens).
func (o *ClientFlags) Config(f *Factory, identity string, observers ...app.Observer) app.Config {
	cfg := o.settings()
	cfg.Identity = identity
	cfg.SDK = app.SDKInfo(f.Build.Version, f.InstanceID)
	cfg.Logger, cfg.StoredLogLevel = f.Logger, f.StoredLogLevel()
	cfg.Observers = observers
	return cfg
}

// Explain adds to a run's error what the user can do about it in flags:
// a microphone that cannot be opened has alternatives.
func (o *ClientFlags) Explain(err error) error {
	if err != nil && o.AudioSpec.Kind == audio.KindMic && errors.Is(err, audio.ErrUserMedia) {
		return fmt.Errorf("%w; use --audio tone or --audio file:PATH.wav to call without a microphone, or pick a device listed by 'callstat devices'", err)
	}
	return err
}

// LoadTokens reads the token parameters, if --token-file or --token-url
// asked for them, into o.Tokens.
func (o *ClientFlags) LoadTokens(ctx context.Context, f *Factory) error {
	if !o.HasTokens() {
		return nil
	}
	p, err := app.LoadTokenParams(ctx, app.TokenSource{File: o.TokenFile, URL: o.TokenURL, Stdin: f.IO.In, TLS: o.TLS})
	if err != nil {
		return err
	}
	o.Tokens = p
	f.Logger.Info("token parameters loaded", "realm", p.Realm, "caller", p.Caller, "callee", p.Callee)
	return nil
}

// ConfigFlagError turns the application's *app.ConfigError into a usage
// error that names the flags (names maps each setting to its flag); any
// other error is returned as it is.
func ConfigFlagError(err error, names map[app.Setting]string) error {
	var ce *app.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	msg := ce.Render(func(s app.Setting) string {
		if n, ok := names[s]; ok {
			return n
		}
		return string(s)
	})
	return &FlagError{Err: &renamedError{msg: msg, err: err}}
}

// renamedError is an error shown under another message.
type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }

// networkProfiles lists the named network profiles for --network's help.
func networkProfiles() string {
	ps := netem.Profiles()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}
