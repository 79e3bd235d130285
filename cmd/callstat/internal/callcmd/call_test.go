package callcmd

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
)

func TestNewCmdCall(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		env     map[string]string
		want    Options
		wantErr string
	}{
		{
			name: "defaults",
			args: "alice@example.com --from bob@example.com",
			env:  map[string]string{"HOME": "/home/u"},
			want: Options{Callee: "alice@example.com", From: "bob@example.com", AnswerTimeout: time.Minute,
				ClientFlags: cmdutil.ClientFlags{Server: "ws://127.0.0.1:8080/ws", Store: "/home/u/.local/state/callstat/callstat.db",
					Audio: "mic", Interval: time.Second}},
		},
		{
			name: "environment",
			args: "alice",
			env:  map[string]string{"CALLSTAT_SERVER": "wss://sig.example.com/ws", "CALLSTAT_STORE": "/tmp/s.db", "CALLSTAT_FROM": "env@example.com"},
			want: Options{Callee: "alice", From: "env@example.com", AnswerTimeout: time.Minute,
				ClientFlags: cmdutil.ClientFlags{Server: "wss://sig.example.com/ws", Store: "/tmp/s.db", Audio: "mic", Interval: time.Second}},
		},
		{
			name: "all flags",
			args: "alice --from bob --server ws://[::1]:9/ws --store s.db --audio tone:1000 --interval 500ms --ice-loopback --ice-server stun:s.example.com:3478 --duration 10s --answer-timeout 5s --record heard.wav --assert mos>=4,loss<=1%",
			want: Options{Callee: "alice", From: "bob", Duration: 10 * time.Second, AnswerTimeout: 5 * time.Second, Assert: "mos>=4,loss<=1%",
				ClientFlags: cmdutil.ClientFlags{Server: "ws://[::1]:9/ws", Store: "s.db", Audio: "tone:1000", Interval: 500 * time.Millisecond,
					ICELoopback: true, ICEServers: []string{"stun:s.example.com:3478"}, Record: "heard.wav"}},
		},
		{
			name: "microphone device",
			args: "alice --from bob --store s.db --audio mic:alsa_input.usb-0d8c",
			want: Options{Callee: "alice", From: "bob", AnswerTimeout: time.Minute,
				ClientFlags: cmdutil.ClientFlags{Server: cmdutil.DefaultServer, Store: "s.db", Audio: "mic:alsa_input.usb-0d8c", Interval: time.Second}},
		},
		{
			name: "file source",
			args: "alice --from bob --store s.db --audio file:speech.wav",
			want: Options{Callee: "alice", From: "bob", AnswerTimeout: time.Minute,
				ClientFlags: cmdutil.ClientFlags{Server: cmdutil.DefaultServer, Store: "s.db", Audio: "file:speech.wav", Interval: time.Second}},
		},
		{name: "no callee", args: "--from bob", wantErr: "exactly one argument"},
		{name: "two callees", args: "a b --from bob", wantErr: "exactly one argument"},
		{name: "no from", args: "alice", wantErr: "--from is required"},
		{name: "bad server", args: "alice --from b --server localhost:8080", wantErr: "invalid --server"},
		{name: "bad audio", args: "alice --from b --audio mp3", wantErr: "invalid audio source"},
		{name: "bad tone", args: "alice --from b --audio tone:5", wantErr: "between 20 and 20000"},
		{name: "empty device", args: "alice --from b --audio mic:", wantErr: "give a device after mic:"},
		{name: "empty file", args: "alice --from b --audio file:", wantErr: "give a WAV file"},
		{name: "record in a missing directory", args: "alice --from b --record /nonexistent/dir/heard.wav", wantErr: "directory /nonexistent/dir does not exist"},
		{name: "record to a directory", args: "alice --from b --record .", wantErr: "it is a directory"},
		{name: "tiny interval", args: "alice --from b --interval 1ms", wantErr: "invalid --interval"},
		{name: "negative duration", args: "alice --from b --duration -1s", wantErr: "must not be negative"},
		{name: "bad ice server", args: "alice --from b --ice-server http://x", wantErr: "invalid --ice-server"},
		{name: "malformed assertion", args: "alice --from b --assert rtt<=150ms,mos>=9", wantErr: "invalid --assert at column 17: mos limit 9 is out of range"},
		{name: "assertion without operator", args: "alice --from b --assert loss", wantErr: "invalid --assert at column 5: want an operator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(tt.env)
			var got *Options
			cmd := NewCmdCall(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(strings.Fields(tt.args))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.ExecuteContext(context.Background())
			if tt.wantErr != "" {
				var fe *cmdutil.FlagError
				if err == nil || !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a FlagError containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %q, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Callee != tt.want.Callee || got.From != tt.want.From || got.Duration != tt.want.Duration ||
				got.AnswerTimeout != tt.want.AnswerTimeout || got.Server != tt.want.Server || got.Store != tt.want.Store ||
				got.Audio != tt.want.Audio || got.Interval != tt.want.Interval || got.ICELoopback != tt.want.ICELoopback ||
				len(got.ICEServers) != len(tt.want.ICEServers) || got.Record != tt.want.Record || got.RecordEachCall ||
				got.Assert != tt.want.Assert || len(got.Assertions) != strings.Count(tt.want.Assert, ",")+min(len(tt.want.Assert), 1) {
				t.Errorf("options = %+v\nwant      %+v", *got, tt.want)
			}
		})
	}
}
