package rootcmd

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
)

func TestCompletion(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash": "__start_callstat",
		"zsh":  "#compdef callstat",
		"fish": "complete -c callstat",
	} {
		f, out, _ := cmdutil.TestFactory(nil)
		cmd := NewCmdRoot(f)
		cmd.SetArgs([]string{"completion", shell})
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("completion %s: %v", shell, err)
		}
		if !strings.Contains(out.String(), marker) {
			t.Errorf("completion %s does not contain %q", shell, marker)
		}
	}
}

func TestQuietAndLogLevel(t *testing.T) {
	tests := []struct {
		args      []string
		env       map[string]string
		wantLevel string
		wantUsage bool
	}{
		{args: []string{"--quiet"}, wantLevel: "error"},
		{args: []string{"-q"}, env: map[string]string{cmdutil.EnvLogLevel: "debug"}, wantLevel: "error"},
		{args: []string{"-q", "--log-level", "silent"}, wantLevel: "silent"},
		{args: []string{"-q", "--log-level", "debug"}, wantUsage: true},
		{args: []string{"--no-progress", "--log-level", "warn"}, wantLevel: "warn"},
	}
	for _, tt := range tests {
		f, _, _ := cmdutil.TestFactory(tt.env)
		cmd := NewCmdRoot(f)
		// dump of a missing store: runs PersistentPreRunE, then fails fast.
		cmd.SetArgs(append(tt.args, "dump", "--store", t.TempDir()+"/none.db"))
		err := cmd.ExecuteContext(context.Background())
		if tt.wantUsage {
			if cmdutil.ExitCodeFor(err) != cmdutil.ExitUsage {
				t.Errorf("%v: err %v, want a usage error", tt.args, err)
			}
			continue
		}
		want, _ := cmdutil.ParseLogLevel(tt.wantLevel)
		if f.LogLevel != want || f.Status != nil {
			t.Errorf("%v: level %v (want %v), status %v", tt.args, f.LogLevel, want, f.Status)
		}
	}
}

func TestPrintError(t *testing.T) {
	f, _, errOut := cmdutil.TestFactory(nil)
	PrintError(f, errors.New("boom"), cmdutil.ExitError)
	if got := errOut.String(); got != "callstat: boom\n" {
		t.Errorf("text error = %q", got)
	}

	f, _, errOut = cmdutil.TestFactory(nil)
	f.LogFormat = "json"
	PrintError(f, cmdutil.FlagErrorf("bad flag"), cmdutil.ExitUsage)
	var line map[string]any
	if err := json.Unmarshal(errOut.Bytes(), &line); err != nil || strings.Count(errOut.String(), "\n") != 1 {
		t.Fatalf("json error is not one JSON line: %v %q", err, errOut.String())
	}
	if line["level"] != "ERROR" || line["msg"] != "bad flag" || line["exitCode"] != 2.0 || line["time"] == nil {
		t.Errorf("json error = %v", line)
	}
}
