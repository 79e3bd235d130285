package reportcmd

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/store"
)

func TestNewCmdReport(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    string
		want    Options
		wantErr string
	}{
		{name: "defaults", args: "--out " + filepath.Join(dir, "r.html"),
			want: Options{Out: filepath.Join(dir, "r.html"), Store: "/x/callstat/callstat.db"}},
		{name: "participants", args: "-o - --store a.db -p bob --participant carol",
			want: Options{Out: "-", Store: "a.db", Participants: []string{"bob", "carol"}}},
		{name: "no out", args: "", wantErr: "--out is required"},
		{name: "out in a missing directory", args: "--out " + filepath.Join(dir, "no", "r.html"), wantErr: "does not exist"},
		{name: "out is a directory", args: "--out " + dir, wantErr: "is a directory"},
		{name: "an argument", args: "--out - bob", wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(map[string]string{"XDG_STATE_HOME": "/x"})
			var got *Options
			cmd := NewCmdReport(f, func(_ context.Context, o *Options) error { got = o; return nil })
			err := cmdutil.ExecuteForTest(cmd, tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !strings.Contains(tt.wantErr, "unknown") && cmdutil.ExitCodeFor(err) != cmdutil.ExitUsage {
					t.Errorf("exit %d, want %d", cmdutil.ExitCodeFor(err), cmdutil.ExitUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Factory = nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// The run writes the page to --out and prints its path; "-" writes the
// page to stdout; a store without the participant exits 12.
func TestReportRun(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Write(context.Background(), stats.Batch{Begins: []stats.CallRecord{{CallID: "c1", Participant: "bob", Direction: "outgoing", Peer: "alice"}}})
	_ = st.Close()
	if err != nil {
		t.Fatal(err)
	}

	f, out, _ := cmdutil.TestFactory(nil)
	html := filepath.Join(dir, "r.html")
	if err := reportRun(context.Background(), &Options{Factory: f, Out: html, Store: db}); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) != html {
		t.Errorf("stdout %q, want the path", out.String())
	}

	f, out, _ = cmdutil.TestFactory(nil)
	if err := reportRun(context.Background(), &Options{Factory: f, Out: "-", Store: db, Participants: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out.Bytes(), []byte("<!DOCTYPE html>")) || !bytes.Contains(out.Bytes(), []byte("<h2>bob</h2>")) {
		t.Errorf("stdout is not the page: %.100s", out.String())
	}

	err = reportRun(context.Background(), &Options{Factory: f, Out: "-", Store: db, Participants: []string{"zed"}})
	if cmdutil.ExitCodeFor(err) != cmdutil.ExitNoData {
		t.Errorf("unknown participant: %v, exit %d, want %d", err, cmdutil.ExitCodeFor(err), cmdutil.ExitNoData)
	}
	err = reportRun(context.Background(), &Options{Factory: f, Out: "-", Store: filepath.Join(dir, "none.db")})
	if cmdutil.ExitCodeFor(err) != cmdutil.ExitNoData || !strings.Contains(err.Error(), "no store at") {
		t.Errorf("missing store: %v, want exit %d", err, cmdutil.ExitNoData)
	}
}
