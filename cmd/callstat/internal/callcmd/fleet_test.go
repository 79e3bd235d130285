package callcmd

import (
	"context"
	"errors"
	"testing"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/app/load/fleet"
	"github.com/callstat/callstat/pkg/call"
)

func TestNewCmdCallFleetFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		agents  int
		wantErr string
	}{
		{name: "spread", args: "alice --from bob --calls 100 --agents 4 --nats nats://10.0.0.2:4222", agents: 4},
		{name: "local", args: "alice --from bob --calls 100"},
		{name: "no nats", args: "alice --from bob --calls 100 --agents 2", wantErr: "--agents needs --nats"},
		{name: "nats alone", args: "alice --from bob --calls 100 --nats nats://x:1", wantErr: "needs --agents"},
		{name: "no load", args: "alice --from bob --agents 2 --nats nats://x:1", wantErr: "give --calls"},
		{name: "zero agents", args: "alice --from bob --calls 5 --agents 0 --nats nats://x:1", wantErr: "at least 1"},
		{name: "events", args: "alice --from bob --calls 5 --agents 2 --nats nats://x:1 --events -", wantErr: "--events"},
		{name: "record", args: "alice --from bob --calls 5 --agents 2 --nats nats://x:1 --record x.wav", wantErr: "--record"},
		{name: "bad wait", args: "alice --from bob --calls 5 --agents 2 --nats nats://x:1 --agents-wait 0s", wantErr: "--agents-wait"},
		{name: "bad url", args: "alice --from bob --calls 5 --agents 2 --nats x:1", wantErr: "NATS URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(map[string]string{"HOME": t.TempDir()})
			var got *Options
			err := cmdutil.ExecuteForTest(NewCmdCall(f, func(_ context.Context, o *Options) error { got = o; return nil }), tt.args)
			if tt.wantErr != "" {
				if !cmdutil.IsFlagErrorWith(err, tt.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Agents != tt.agents {
				t.Errorf("agents %d, want %d", got.Agents, tt.agents)
			}
		})
	}
}

// A lost agent's calls decide the exit code over the calls' own failures,
// below a store error.
func TestLoadFailureAgentLost(t *testing.T) {
	lost := errors.Join(errors.New("agent a3 lost"), fleet.ErrAgentLost)
	err := loadFailure([]callResult{{id: "1", err: call.ErrMediaFailure}, {id: "2", err: lost}}, 2, 2)
	if code := cmdutil.ExitCodeFor(err); code != cmdutil.ExitAgents {
		t.Errorf("exit %d, want %d", code, cmdutil.ExitAgents)
	}
}
