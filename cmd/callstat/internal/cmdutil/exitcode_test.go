package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/app/load/fleet"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/natsconn"
	"github.com/callstat/callstat/pkg/stats/report"
	"github.com/callstat/callstat/pkg/stats/store"
)

func TestExitCodeFor(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("call 123: %w", err) }
	tests := []struct {
		err  error
		want ExitCode
	}{
		{nil, ExitOK},
		{errors.New("boom"), ExitError},
		{FlagErrorf("bad"), ExitUsage},
		{wrap(call.ErrServerUnreachable), ExitServerUnreachable},
		{wrap(call.ErrSignalingLost), ExitServerUnreachable},
		{wrap(call.ErrCalleeNotFound), ExitCalleeNotFound},
		{wrap(call.ErrRejected), ExitRejected},
		{wrap(call.ErrNoAnswer), ExitRejected},
		{wrap(call.ErrMediaFailure), ExitMediaFailure},
		{wrap(call.ErrInterrupted), ExitInterrupted},
		{context.Canceled, ExitInterrupted},
		{wrap(call.ErrPeerLost), ExitPeerLost},
		{wrap(audio.ErrUserMedia), ExitUserMedia},
		{wrap(fmt.Errorf("%w: %w", audio.ErrUserMedia, audio.ErrBadWAV)), ExitUserMedia},
		{wrap(audio.ErrRecord), ExitError},
		{wrap(store.ErrOpen), ExitStore},
		{wrap(app.ErrStore), ExitStore},
		{wrap(store.ErrNoParticipant), ExitNoData},
		{errors.Join(wrap(call.ErrPeerLost), wrap(app.ErrStore)), ExitStore},
		{wrap(report.ErrAssertionFailed), ExitAssert},
		{errors.Join(wrap(report.ErrAssertionFailed), wrap(app.ErrStore)), ExitStore},
		{wrap(call.ErrAuth), ExitAuth},
		{fmt.Errorf("%w: %w: alice", call.ErrRegisterFailed, call.ErrAuth), ExitAuth},
		{wrap(app.ErrTokens), ExitAuth},
		{errors.Join(wrap(call.ErrAuth), wrap(app.ErrStore)), ExitStore},
		{wrap(natsconn.ErrUnreachable), ExitServerUnreachable},
		{wrap(natsconn.ErrAuth), ExitAuth},
		{wrap(natsconn.ErrConfig), ExitUsage},
		{wrap(fleet.ErrAgentLost), ExitAgents},
		{wrap(fleet.ErrAgents), ExitAgents},
		{errors.Join(wrap(call.ErrMediaFailure), wrap(fleet.ErrAgentLost)), ExitAgents},
		{errors.Join(wrap(fleet.ErrAgentLost), wrap(app.ErrStore)), ExitStore},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.err), func(t *testing.T) {
			if got := ExitCodeFor(tt.err); got != tt.want {
				t.Errorf("ExitCodeFor(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
