package democmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/app"
)

func TestRun(t *testing.T) {
	f, out, _ := cmdutil.TestFactory(nil)
	dir := t.TempDir()
	opts := &Options{Factory: f, Out: dir, Calls: 2, Duration: time.Second, Interval: 200 * time.Millisecond, ICELoopback: true}
	if err := demoRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{app.DemoCaller, app.DemoCallee} {
		files, _ := filepath.Glob(filepath.Join(dir, p, "*_sdk1.2.3-test_call_stats.json"))
		if len(files) != 1 {
			t.Errorf("%s: %d stats files, want 1", p, len(files))
			continue
		}
		if fi, err := os.Stat(files[0]); err != nil || fi.Size() < 1000 {
			t.Errorf("%s: stats file %v too small", p, fi)
		}
	}
	// A summary row per call, each ended by the demo's hang-up.
	if got := strings.Count(out.String(), "demo call duration reached"); got != 2 {
		t.Errorf("summary lists %d ended calls, want 2:\n%s", got, out.String())
	}
	for _, col := range []string{"DURATION", "SENT", "RECEIVED", "LOSS", "JITTER", "RTT"} {
		if !strings.Contains(out.String(), col) {
			t.Errorf("summary lacks column %s", col)
		}
	}
}

func TestNewCmdDemoValidation(t *testing.T) {
	f, _, _ := cmdutil.TestFactory(nil)
	for _, args := range [][]string{{"--calls", "0"}, {"--duration", "0s"}, {"--interval", "1ms"}} {
		cmd := NewCmdDemo(f, func(context.Context, *Options) error { return nil })
		cmd.SetArgs(args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		if err := cmd.ExecuteContext(context.Background()); cmdutil.ExitCodeFor(err) != cmdutil.ExitUsage {
			t.Errorf("%v: err %v, want usage error", args, err)
		}
	}
}
