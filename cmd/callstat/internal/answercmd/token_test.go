package answercmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/app"
)

func TestNewCmdAnswerTokenFlags(t *testing.T) {
	f, _, _ := cmdutil.TestFactory(nil)
	var got *Options
	if err := cmdutil.ExecuteForTest(NewCmdAnswer(f, func(_ context.Context, o *Options) error { got = o; return nil }),
		"--token-url http://127.0.0.1:3000/callparameters"); err != nil {
		t.Fatalf("--token-url without --as: %v", err)
	}
	if got.As != "" || got.TokenURL == "" {
		t.Errorf("options %+v", got)
	}
}

// --as must be one of the ids the token parameters were minted for; the
// refusal comes before the store is opened.
func TestRunTokensForAnotherID(t *testing.T) {
	dir := t.TempDir()
	params := filepath.Join(dir, "p.json")
	if err := os.WriteFile(params, []byte(`{"realm":"r","accountToken":"a","fromToken":"f","toToken":"t","caller":"sip:bob@x","callee":"sip:alice@x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _, _ := cmdutil.TestFactory(nil)
	opts := &Options{Factory: f, As: "carol@x"}
	opts.Server, opts.Store, opts.TokenFile = cmdutil.DefaultServer, filepath.Join(dir, "s.db"), params
	err := answerRun(context.Background(), opts)
	if !errors.Is(err, app.ErrTokens) || cmdutil.ExitCodeFor(err) != cmdutil.ExitAuth || !strings.Contains(err.Error(), "not for carol@x") {
		t.Fatalf("err = %v, want ErrTokens (exit 9) naming carol@x", err)
	}
	if _, err := os.Stat(opts.Store); !os.IsNotExist(err) {
		t.Errorf("store file exists after the refusal: %v", err)
	}
}
