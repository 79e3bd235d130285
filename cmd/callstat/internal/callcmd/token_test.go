package callcmd

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

func TestNewCmdCallTokenFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       string
		wantCallee string
		wantErr    string
	}{
		{name: "token file, ids from it", args: "--token-file p.json"},
		{name: "token url and explicit ids", args: "alice --from bob --token-url http://127.0.0.1:3000/callparameters", wantCallee: "alice"},
		{name: "ca file", args: "alice --from bob --ca-file /nonexistent/ca.pem", wantErr: "--ca-file"},
		{name: "both token sources", args: "--token-file p.json --token-url http://h/p", wantErr: "exclude each other"},
		{name: "token url not http", args: "--token-url ftp://h/p", wantErr: "invalid --token-url"},
		{name: "no callee without tokens", args: "--from bob", wantErr: "exactly one argument"},
		{name: "two callees with tokens", args: "a b --token-file p.json", wantErr: "exactly one argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(map[string]string{"HOME": "/home/u"})
			var got *Options
			err := cmdutil.ExecuteForTest(NewCmdCall(f, func(_ context.Context, o *Options) error { got = o; return nil }), tt.args)
			if tt.wantErr != "" {
				if !cmdutil.IsFlagErrorWith(err, tt.wantErr) {
					t.Fatalf("err = %v, want a FlagError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Callee != tt.wantCallee {
				t.Errorf("callee %q, want %q", got.Callee, tt.wantCallee)
			}
		})
	}
}

// Unusable token parameters stop the call before anything is opened or
// dialled: exit 9, and no store file appears.
func TestRunBadTokenFile(t *testing.T) {
	dir := t.TempDir()
	params := filepath.Join(dir, "p.json")
	if err := os.WriteFile(params, []byte(`{"realm":"r","caller":"sip:bob@x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _, _ := cmdutil.TestFactory(nil)
	opts := &Options{Factory: f}
	opts.Server, opts.Store, opts.TokenFile = cmdutil.DefaultServer, filepath.Join(dir, "s.db"), params
	err := callRun(context.Background(), opts)
	if !errors.Is(err, app.ErrTokens) || cmdutil.ExitCodeFor(err) != cmdutil.ExitAuth || !strings.Contains(err.Error(), "missing accountToken") {
		t.Fatalf("err = %v (exit %d), want ErrTokens naming what is missing, exit 9", err, cmdutil.ExitCodeFor(err))
	}
	if _, err := os.Stat(opts.Store); !os.IsNotExist(err) {
		t.Errorf("store file exists after the refusal: %v", err)
	}
}
