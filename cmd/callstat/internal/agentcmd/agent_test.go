package agentcmd

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/internal/testkit/natstest"
	"github.com/callstat/callstat/pkg/app/load/fleet"
)

func TestNewCmdAgent(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		env     map[string]string
		check   func(*Options) bool
		wantErr string
	}{
		{name: "nats", args: "--nats nats://127.0.0.1:4222 --name a1 --capacity 300", check: func(o *Options) bool {
			return o.NATS == "nats://127.0.0.1:4222" && o.Name == "a1" && o.Capacity == 300 && o.Timeout == fleet.DefaultTimeout
		}},
		{name: "env", env: map[string]string{cmdutil.EnvNATS: "tls://n:4222"}, check: func(o *Options) bool { return o.NATS == "tls://n:4222" }},
		{name: "no nats", args: "--name a1", wantErr: "--nats is required"},
		{name: "bad url", args: "--nats ws://x:1", wantErr: "nats:// or tls://"},
		{name: "negative capacity", args: "--nats nats://x:1 --capacity -1", wantErr: "--capacity"},
		{name: "no timeout", args: "--nats nats://x:1 --coordinator-timeout 0s", wantErr: "--coordinator-timeout"},
		{name: "missing creds", args: "--nats nats://x:1 --nats-creds /nonexistent.creds", wantErr: "credentials file"},
		{name: "negative wait", args: "--nats nats://x:1 --connect-timeout -1s", wantErr: "--connect-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(tt.env)
			var got *Options
			err := cmdutil.ExecuteForTest(NewCmdAgent(f, func(_ context.Context, o *Options) error { got = o; return nil }), tt.args)
			if tt.wantErr != "" {
				if !cmdutil.IsFlagErrorWith(err, tt.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Errorf("options %+v", got)
			}
		})
	}
}

// The agent serves until cancelled, under the process's version.
func TestAgentRun(t *testing.T) {
	ns := natstest.Start(t, natstest.Options{})
	f, _, _ := cmdutil.TestFactory(nil)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan fleet.Hello, 1)
	done := make(chan error, 1)
	go func() {
		done <- agentRun(ctx, &Options{Factory: f, NATSFlags: cmdutil.NATSFlags{NATS: ns.URL}, Name: "a1",
			Store: filepath.Join(t.TempDir(), "a.db"), Timeout: time.Second, Ready: func(h fleet.Hello) { ready <- h }})
	}()
	select {
	case h := <-ready:
		if h.Version != "1.2.3-test" || h.Name != "a1" {
			t.Errorf("hello %+v", h)
		}
	case err := <-done:
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// NATS down: the error says so.
	ns.Shutdown()
	err := agentRun(context.Background(), &Options{Factory: f, NATSFlags: cmdutil.NATSFlags{NATS: ns.URL}, Timeout: time.Second})
	if cmdutil.ExitCodeFor(err) != cmdutil.ExitServerUnreachable || errors.Is(err, context.Canceled) {
		t.Errorf("err = %v (exit %d), want exit 3", err, cmdutil.ExitCodeFor(err))
	}
}
