package answercmd

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
)

func TestNewCmdAnswer(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		env     map[string]string
		check   func(*testing.T, *Options)
		wantErr string
	}{
		{
			name: "defaults",
			args: "--as alice@example.com",
			check: func(t *testing.T, o *Options) {
				if o.As != "alice@example.com" || o.Duration != 0 || o.MaxCalls != 0 || o.Server != cmdutil.DefaultServer || o.AudioSpec.String() != "mic" ||
					o.Record != "" || !o.RecordEachCall {
					t.Errorf("options %+v", o)
				}
			},
		},
		{
			name: "environment",
			args: "",
			env:  map[string]string{"CALLSTAT_AS": "env@example.com", "CALLSTAT_SERVER": "ws://h:1/ws"},
			check: func(t *testing.T, o *Options) {
				if o.As != "env@example.com" || o.Server != "ws://h:1/ws" {
					t.Errorf("options %+v", o)
				}
			},
		},
		{
			name: "flags",
			args: "--as a --duration 30s --max-calls 10 --audio silence --ice-loopback --record heard.wav",
			check: func(t *testing.T, o *Options) {
				if o.Duration != 30*time.Second || o.MaxCalls != 10 || o.AudioSpec.String() != "silence" || !o.ICELoopback ||
					o.Record != "heard.wav" || !o.RecordEachCall {
					t.Errorf("options %+v", o)
				}
			},
		},
		{name: "no id", args: "", wantErr: "--as is required"},
		{name: "extra argument", args: "--as a extra", wantErr: "unknown command"},
		{name: "negative max calls", args: "--as a --max-calls -1", wantErr: "must not be negative"},
		{name: "bad audio", args: "--as a --audio silence:3", wantErr: "silence takes no argument"},
		{name: "record in a missing directory", args: "--as a --record /nonexistent/x.wav", wantErr: "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(tt.env)
			var got *Options
			cmd := NewCmdAnswer(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(strings.Fields(tt.args))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.ExecuteContext(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var fe *cmdutil.FlagError
				if !errors.As(err, &fe) && !strings.Contains(err.Error(), "unknown command") {
					t.Errorf("err %v is not a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got)
		})
	}
}
