package callcmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/stats/store"
)

func TestNewCmdCallLoadFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       string
		wantLoad   bool
		calls, con int
		ramp       float64
		decode     bool
		wantErr    string
	}{
		{name: "one call", args: "alice --from bob", calls: 1, con: 1, decode: true},
		{name: "load", args: "alice --from bob --calls 500 --concurrency 100 --ramp 50", wantLoad: true, calls: 500, con: 100, ramp: 50},
		{name: "ramp per second", args: "alice --from bob --calls 10 --ramp 2.5/s", wantLoad: true, calls: 10, con: 1, ramp: 2.5},
		{name: "concurrency above calls", args: "alice --from bob --calls 3 --concurrency 10", wantLoad: true, calls: 3, con: 3},
		{name: "one call in load mode", args: "alice --from bob --calls 1", wantLoad: true, calls: 1, con: 1},
		{name: "decoding asked for", args: "alice --from bob --calls 5 --decode", wantLoad: true, calls: 5, con: 1, decode: true},
		{name: "recording decodes", args: "alice --from bob --calls 5 --record heard.wav", wantLoad: true, calls: 5, con: 1, decode: true},
		{name: "single call without decoding", args: "alice --from bob --decode=false", calls: 1, con: 1},
		{name: "no calls", args: "alice --from bob --calls 0", wantErr: "--calls must be at least 1"},
		{name: "no concurrency", args: "alice --from bob --calls 5 --concurrency 0", wantErr: "--concurrency must be at least 1"},
		{name: "bad ramp", args: "alice --from bob --calls 5 --ramp fast", wantErr: "invalid --ramp"},
		{name: "zero ramp", args: "alice --from bob --calls 5 --ramp 0", wantErr: "invalid --ramp"},
		{name: "recording without decoding", args: "alice --from bob --record heard.wav --decode=false", wantErr: "--record needs the audio decoded"},
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
			if got.Load != tt.wantLoad || got.Calls != tt.calls || got.Concurrency != tt.con || got.RampPerSec != tt.ramp || got.Decode != tt.decode {
				t.Errorf("load %v, calls %d, concurrency %d, ramp %v, decode %v; want %v, %d, %d, %v, %v",
					got.Load, got.Calls, got.Concurrency, got.RampPerSec, got.Decode, tt.wantLoad, tt.calls, tt.con, tt.ramp, tt.decode)
			}
			if tt.wantLoad && !got.RecordEachCall {
				t.Error("load mode records one file per call")
			}
		})
	}
}

// The exit code of a load run is that of its most severe failure, as
// cmdutil.ExitCodeFor ranks them; the message counts them.
func TestLoadFailure(t *testing.T) {
	fail := func(id string, err error) callResult { return callResult{id: id, err: err} }
	ok := callResult{id: "ok"}
	tests := []struct {
		name     string
		calls    []callResult
		placed   int
		total    int
		wantCode cmdutil.ExitCode
		wantMsg  string
	}{
		{name: "all fine", calls: []callResult{ok, ok}, placed: 2, total: 2, wantCode: cmdutil.ExitOK},
		{name: "callee unknown", calls: []callResult{ok, fail("a", call.ErrCalleeNotFound), fail("b", call.ErrCalleeNotFound)}, placed: 3, total: 3,
			wantCode: cmdutil.ExitCalleeNotFound, wantMsg: "2 of 3 calls failed"},
		{name: "media failure and peer lost: media ranks first", calls: []callResult{fail("a", call.ErrPeerLost), fail("b", call.ErrMediaFailure)},
			placed: 2, total: 2, wantCode: cmdutil.ExitMediaFailure, wantMsg: "2 of 2 calls failed"},
		{name: "server lost outranks rejections", calls: []callResult{fail("a", call.ErrRejected), fail("b", call.ErrSignalingLost)},
			placed: 2, total: 2, wantCode: cmdutil.ExitServerUnreachable},
		{name: "store error outranks everything", calls: []callResult{fail("a", call.ErrAuth), fail("b", fmt.Errorf("%w: full", store.ErrOpen))},
			placed: 2, total: 2, wantCode: cmdutil.ExitStore},
		{name: "a recording that failed", calls: []callResult{{id: "a", recordErr: audio.ErrRecord}}, placed: 1, total: 1,
			wantCode: cmdutil.ExitError, wantMsg: "1 of 1 calls failed"},
		{name: "interrupted before all were placed", calls: []callResult{ok}, placed: 1, total: 5,
			wantCode: cmdutil.ExitInterrupted, wantMsg: "load run stopped after placing 1 of 5 calls"},
		{name: "interrupted, and a worse failure", calls: []callResult{fail("a", call.ErrCalleeNotFound)}, placed: 1, total: 5,
			wantCode: cmdutil.ExitCalleeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := loadFailure(tt.calls, tt.placed, tt.total)
			if code := cmdutil.ExitCodeFor(err); code != tt.wantCode {
				t.Errorf("exit code %d for %v, want %d", code, err, tt.wantCode)
			}
			if tt.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.wantMsg)) {
				t.Errorf("error %v, want it to say %q", err, tt.wantMsg)
			}
			if err != nil && tt.wantCode == cmdutil.ExitCalleeNotFound && !errors.Is(err, call.ErrCalleeNotFound) {
				t.Errorf("error %v does not wrap the failure", err)
			}
		})
	}
}
