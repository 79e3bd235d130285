package cmdutil

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/call/audio"
)

// The flags become the application's settings as they were given, and
// the factory adds the logger and the SDK entry.
func TestClientFlagsConfig(t *testing.T) {
	f, _, _ := TestFactory(nil)
	o := ClientFlags{Server: "wss://h/ws", Store: "s.db", Audio: "tone:1000", Interval: 500 * time.Millisecond, Decode: true,
		ICEServers: []string{"stun:s.example.com"}, ICELoopback: true, Record: "", RecordEachCall: true,
		ICEDisconnectedTimeout: time.Second, ICEFailedTimeout: 2 * time.Second, ReconnectDelay: time.Second, ReconnectAttempts: 3}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg := o.Config(f, "bob@x")
	if cfg.Identity != "bob@x" || cfg.ServerURL != "wss://h/ws" || cfg.StorePath != "s.db" ||
		cfg.Audio != (audio.Spec{Kind: audio.KindTone, Hz: 1000}) || cfg.Interval != 500*time.Millisecond || !cfg.Decode ||
		len(cfg.ICEServers) != 1 || !cfg.ICELoopback || !cfg.RecordEachCall || cfg.ICEDisconnectedTimeout != time.Second ||
		cfg.ICEFailedTimeout != 2*time.Second || cfg.ReconnectDelay != time.Second || cfg.ReconnectAttempts != 3 {
		t.Errorf("config %+v", cfg)
	}
	if cfg.SDK.Version != f.Build.Version || cfg.SDK.InstanceID != f.InstanceID || cfg.Logger != f.Logger {
		t.Errorf("SDK %+v, logger %v", cfg.SDK, cfg.Logger)
	}
}

// The application's errors name its settings; the command's name the
// flags, and are usage errors.
func TestConfigFlagError(t *testing.T) {
	err := ConfigFlagError(app.ConfigErrorf("%s needs the audio decoded: drop %s=false", app.SettingRecordPath, app.SettingDecode), clientFlagNames)
	var fe *FlagError
	if !errors.As(err, &fe) || err.Error() != "--record needs the audio decoded: drop --decode=false" || !errors.Is(err, app.ErrConfig) {
		t.Errorf("err = %v", err)
	}
	other := errors.New("boom")
	if got := ConfigFlagError(other, clientFlagNames); !errors.Is(got, other) || got.Error() != other.Error() {
		t.Error("an error that is no ConfigError changed")
	}
}

func TestExplainMicrophone(t *testing.T) {
	mic, tone := ClientFlags{AudioSpec: audio.Spec{Kind: audio.KindMic}}, ClientFlags{AudioSpec: audio.Spec{Kind: audio.KindTone}}
	err := mic.Explain(audio.ErrUserMedia)
	if !errors.Is(err, audio.ErrUserMedia) || !strings.Contains(err.Error(), "use --audio tone") || !strings.Contains(err.Error(), "'callstat devices'") {
		t.Errorf("mic: %v", err)
	}
	if err := tone.Explain(audio.ErrUserMedia); !errors.Is(err, audio.ErrUserMedia) || err.Error() != audio.ErrUserMedia.Error() {
		t.Errorf("tone: %v", err)
	}
	if mic.Explain(nil) != nil {
		t.Error("no error became one")
	}
}
