package app

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validConfig is a configuration that passes Validate.
func validConfig() Config {
	return Config{ServerURL: DefaultServerURL, StorePath: "s.db", Interval: time.Second, Decode: true}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		change   func(*Config)
		wantErr  string
		settings []Setting
	}{
		{name: "valid", change: func(*Config) {}},
		{name: "zero timeouts mean the defaults", change: func(c *Config) { c.ICEFailedTimeout, c.ReconnectDelay, c.ReconnectAttempts = 0, 0, 0 }},
		{name: "record file", change: func(c *Config) { c.RecordPath = filepath.Join(dir, "heard.wav") }},
		{name: "wss", change: func(c *Config) { c.ServerURL = "wss://sig.example.com/ws" }},
		{name: "not a WebSocket URL", change: func(c *Config) { c.ServerURL = "http://h/ws" },
			wantErr: `invalid ServerURL "http://h/ws": want a ws:// or wss:// URL`, settings: []Setting{SettingServerURL}},
		{name: "no host", change: func(c *Config) { c.ServerURL = "localhost:8080" }, wantErr: "invalid ServerURL", settings: []Setting{SettingServerURL}},
		{name: "no store", change: func(c *Config) { c.StorePath = "" }, wantErr: "StorePath must not be empty", settings: []Setting{SettingStorePath}},
		{name: "record in a missing directory", change: func(c *Config) { c.RecordPath = "/nonexistent/dir/x.wav" },
			wantErr: "directory /nonexistent/dir does not exist", settings: []Setting{SettingRecordPath}},
		{name: "record to a directory", change: func(c *Config) { c.RecordPath = dir },
			wantErr: "it is a directory; give a file name such as " + filepath.Join(dir, "received.wav"), settings: []Setting{SettingRecordPath}},
		{name: "record without decoding", change: func(c *Config) { c.RecordPath, c.Decode = filepath.Join(dir, "x.wav"), false },
			wantErr: "RecordPath needs the audio decoded: drop Decode=false", settings: []Setting{SettingRecordPath, SettingDecode}},
		{name: "tiny interval", change: func(c *Config) { c.Interval = time.Millisecond },
			wantErr: "invalid Interval 1ms: must be at least 10ms", settings: []Setting{SettingInterval}},
		{name: "negative ICE timeout", change: func(c *Config) { c.ICEFailedTimeout = -time.Second },
			wantErr: "ICEDisconnectedTimeout and ICEFailedTimeout must not be negative", settings: []Setting{SettingICEDisconnectedTimeout, SettingICEFailedTimeout}},
		{name: "negative attempts", change: func(c *Config) { c.ReconnectAttempts = -1 },
			wantErr: "ReconnectAttempts must not be negative", settings: []Setting{SettingReconnectAttempts}},
		{name: "tiny reconnect delay", change: func(c *Config) { c.ReconnectDelay = time.Millisecond },
			wantErr: "invalid ReconnectDelay 1ms", settings: []Setting{SettingReconnectDelay}},
		{name: "not a STUN or TURN server", change: func(c *Config) { c.ICEServers = []string{"stun:ok.example.com", "http://x"} },
			wantErr: `invalid ICEServers "http://x"`, settings: []Setting{SettingICEServers}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want a ConfigError containing %q", err, tt.wantErr)
			}
			if got := ce.Settings(); strings.Join(settingNames(got), ",") != strings.Join(settingNames(tt.settings), ",") {
				t.Errorf("settings %v, want %v", got, tt.settings)
			}
		})
	}
}

func settingNames(ss []Setting) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// A caller shows the settings under its own names; the other arguments
// are left as they are.
func TestConfigErrorRender(t *testing.T) {
	err := ConfigErrorf("invalid %s %q: see %s", SettingServerURL, "x", SettingServerURL)
	flags := map[Setting]string{SettingServerURL: "--server"}
	if got := err.Render(func(s Setting) string { return flags[s] }); got != `invalid --server "x": see --server` {
		t.Errorf("Render = %q", got)
	}
	if got := err.Error(); got != `invalid ServerURL "x": see ServerURL` {
		t.Errorf("Error = %q", got)
	}
	if s := err.Settings(); len(s) != 1 || s[0] != SettingServerURL {
		t.Errorf("Settings = %v", s)
	}
}

func TestPerCallPath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"received.wav", "received-ID.wav"},
		{"/tmp/rec/x.wav", "/tmp/rec/x-ID.wav"},
		{"dir.d/heard", "dir.d/heard-ID"},
		{"a.b.wav", "a.b-ID.wav"},
	}
	for _, tt := range tests {
		if got := PerCallPath(tt.path, "ID"); got != tt.want {
			t.Errorf("PerCallPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestSDKInfo(t *testing.T) {
	s := SDKInfo("1.2.3", "id-1")
	if s.SDK != "callstat" || s.Version != "1.2.3" || s.InstanceID != "id-1" || s.Platform == "" {
		t.Errorf("SDKInfo = %+v", s)
	}
}
