package cmdutil

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestClientFlagsFromEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(*ClientFlags) bool
		wantErr string
	}{
		{
			name: "environment sets defaults",
			env: map[string]string{EnvAudio: "tone:1000", EnvInterval: "250ms", EnvICELoopback: "true",
				EnvICEServers: "stun:a.example.com:3478, turn:b.example.com"},
			check: func(o *ClientFlags) bool {
				return o.Audio == "tone:1000" && o.Interval == 250*time.Millisecond && o.ICELoopback &&
					reflect.DeepEqual(o.ICEServers, []string{"stun:a.example.com:3478", "turn:b.example.com"})
			},
		},
		{
			name: "flags win, and replace the environment's list",
			env:  map[string]string{EnvAudio: "tone:1000", EnvInterval: "250ms", EnvICELoopback: "true", EnvICEServers: "stun:a.example.com"},
			args: []string{"--audio", "silence", "--interval", "2s", "--ice-loopback=false", "--ice-server", "stun:c.example.com"},
			check: func(o *ClientFlags) bool {
				return o.Audio == "silence" && o.Interval == 2*time.Second && !o.ICELoopback &&
					reflect.DeepEqual(o.ICEServers, []string{"stun:c.example.com"})
			},
		},
		{
			name: "reliability defaults: pion's ICE timeouts, the SDK's reconnection",
			check: func(o *ClientFlags) bool {
				return o.ICEDisconnectedTimeout == 5*time.Second && o.ICEFailedTimeout == 25*time.Second &&
					o.ReconnectDelay == 5*time.Second && o.ReconnectAttempts == 5
			},
		},
		{
			name: "reliability flags",
			args: []string{"--ice-disconnected-timeout", "1s", "--ice-failed-timeout", "2s", "--reconnect-delay", "100ms", "--reconnect-attempts", "0"},
			check: func(o *ClientFlags) bool {
				return o.ICEDisconnectedTimeout == time.Second && o.ICEFailedTimeout == 2*time.Second &&
					o.ReconnectDelay == 100*time.Millisecond && o.ReconnectAttempts == 0
			},
		},
		{name: "negative ICE timeout", args: []string{"--ice-failed-timeout", "-1s"}, wantErr: "must not be negative"},
		{name: "negative attempts", args: []string{"--reconnect-attempts", "-1"}, wantErr: "--reconnect-attempts must not be negative"},
		{name: "tiny reconnect delay", args: []string{"--reconnect-delay", "1ms"}, wantErr: "invalid --reconnect-delay"},
		{name: "bad duration", env: map[string]string{EnvInterval: "soon"}, wantErr: `invalid CALLSTAT_INTERVAL="soon"`},
		{name: "bad bool", env: map[string]string{EnvICELoopback: "maybe"}, wantErr: `invalid CALLSTAT_ICE_LOOPBACK="maybe"`},
		{name: "bad value the flag would refuse too", env: map[string]string{EnvAudio: "mp3"}, wantErr: "invalid audio source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := TestFactory(tt.env)
			var o ClientFlags
			var runErr error
			cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { runErr = o.Validate(); return nil }}
			AddClientFlags(cmd, f, &o)
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			if err := cmd.ExecuteContext(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				var fe *FlagError
				if !errors.As(runErr, &fe) || !strings.Contains(runErr.Error(), tt.wantErr) {
					t.Fatalf("Validate = %v, want a usage error containing %q", runErr, tt.wantErr)
				}
				return
			}
			if runErr != nil || !tt.check(&o) {
				t.Errorf("flags %+v, err %v", o, runErr)
			}
		})
	}
}

// Every client flag that configures a connection names its variable in
// --help.
func TestClientFlagsHelpNamesTheirVariables(t *testing.T) {
	f, _, _ := TestFactory(nil)
	cmd := &cobra.Command{Use: "x"}
	AddClientFlags(cmd, f, &ClientFlags{})
	for flag, env := range map[string]string{"server": EnvServer, "store": EnvStore, "audio": EnvAudio, "interval": EnvInterval,
		"ice-loopback": EnvICELoopback, "ice-server": EnvICEServers, "ca-file": EnvCAFile, "token-file": EnvTokenFile, "token-url": EnvTokenURL} {
		if u := cmd.Flags().Lookup(flag).Usage; !strings.Contains(u, "(env "+env+")") {
			t.Errorf("--%s usage %q does not name %s", flag, u, env)
		}
	}
}
