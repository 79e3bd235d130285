package dumpcmd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/collect"
	"github.com/callstat/callstat/pkg/stats/store"
)

// logLines logs n lines as participant through the tee handler and stores
// them in batches, as a softphone's collector does.
func logLines(t *testing.T, path, participant string, n, batch int) {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	buf := collect.NewLogBuffer(slog.LevelInfo)
	log := slog.New(buf.Handler(slog.DiscardHandler, participant))
	for i := 0; i < n; i++ {
		log.Info(fmt.Sprintf("line %d", i), "i", i)
		if (i+1)%batch == 0 || i == n-1 {
			if _, err := st.Write(context.Background(), stats.Batch{Logs: buf.Drain()}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestRunWithLogs(t *testing.T) {
	dir := t.TempDir()
	storePath := filepath.Join(dir, "s.db")
	fill(t, storePath, "bob@example.com", 1)
	logLines(t, storePath, "bob@example.com", 2500, 700)

	f, out, _ := cmdutil.TestFactory(nil)
	outDir := filepath.Join(dir, "artifacts")
	if err := dumpRun(context.Background(), &Options{Factory: f, Store: storePath, Out: outDir, Logs: true}); err != nil {
		t.Fatal(err)
	}
	paths := strings.Fields(out.String())
	want := []string{filepath.Join(outDir, "1700000000123_sdk1.2.3-test_call_stats.json"), filepath.Join(outDir, "1700000000123_sdk1.2.3-test_logs.ndjson")}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("printed %q, want %q", paths, want)
	}
	fh, err := os.Open(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	n := 0
	for sc.Scan() {
		var e stats.LogRecord
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d is not a JSON log entry: %v", n+1, err)
		}
		if want := fmt.Sprintf("line %d", 1500+n); e.Messages[0] != want || e.Level != "info" || e.Target.ID != "bob@example.com" {
			t.Fatalf("entry %d = %+v, want %q: the newest 1,000, oldest first", n, e, want)
		}
		n++
	}
	if n != stats.MaxLogEntries {
		t.Errorf("%d entries, want %d", n, stats.MaxLogEntries)
	}
}

func TestLogsNeedADirectory(t *testing.T) {
	f, _, _ := cmdutil.TestFactory(nil)
	cmd := NewCmdDump(f, func(context.Context, *Options) error { return nil })
	cmd.SetArgs([]string{"--logs", "--out", "-"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.ExecuteContext(context.Background()); cmdutil.ExitCodeFor(err) != cmdutil.ExitUsage {
		t.Errorf("--logs --out -: err %v, want a usage error", err)
	}
}
