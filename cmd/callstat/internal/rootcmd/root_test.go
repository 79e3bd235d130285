package rootcmd

import (
	"context"
	"strings"
	"testing"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
)

func TestVersion(t *testing.T) {
	f, out, _ := cmdutil.TestFactory(nil)
	cmd := NewCmdRoot(f)
	cmd.SetArgs([]string{"--version"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "callstat 1.2.3-test") || !strings.Contains(got, "commit abc") {
		t.Errorf("--version printed %q", got)
	}
}

// Every command documents itself with at least one example.
func TestEveryCommandHasHelpAndExamples(t *testing.T) {
	f, _, _ := cmdutil.TestFactory(nil)
	root := NewCmdRoot(f)
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if c.Short == "" || c.Long == "" || !strings.Contains(c.Example, "callstat "+c.Name()) {
			t.Errorf("%s: Short, Long and an Example using it are required", c.Name())
		}
	}
}

func TestBadLogFlags(t *testing.T) {
	for _, args := range [][]string{{"--log-level", "loud", "dump"}, {"--log-format", "xml", "dump"}} {
		f, _, _ := cmdutil.TestFactory(nil)
		cmd := NewCmdRoot(f)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(context.Background())
		if cmdutil.ExitCodeFor(err) != cmdutil.ExitUsage {
			t.Errorf("%v: err %v, want a usage error", args, err)
		}
	}
}
