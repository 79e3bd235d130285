package answercmd

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
)

// --report, --junit and --metrics-addr are parsed and checked before
// anything is dialled: a report that could not be written is a usage
// error.
func TestReportFlags(t *testing.T) {
	dir := t.TempDir()
	rep, junit := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.xml")
	tests := []struct {
		name    string
		args    string
		want    cmdutil.ReportFlags
		wantErr string
	}{
		{name: "none", args: "--as alice --store s.db"},
		{name: "all", args: "--as alice --store s.db --report " + rep + " --junit " + junit + " --metrics-addr 127.0.0.1:9464",
			want: cmdutil.ReportFlags{Report: rep, JUnit: junit, MetricsAddr: "127.0.0.1:9464"}},
		{name: "report in a missing directory", args: "--as alice --store s.db --report " + filepath.Join(dir, "x", "r.json"), wantErr: "invalid --report"},
		{name: "junit to a directory", args: "--as alice --store s.db --junit " + dir, wantErr: "is a directory"},
		{name: "metrics address without a port", args: "--as alice --store s.db --metrics-addr localhost", wantErr: "invalid --metrics-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(nil)
			var got *Options
			cmd := NewCmdAnswer(f, func(_ context.Context, o *Options) error { got = o; return nil })
			err := cmdutil.ExecuteForTest(cmd, tt.args)
			if tt.wantErr != "" {
				if !cmdutil.IsFlagErrorWith(err, tt.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ReportFlags != tt.want {
				t.Errorf("flags %+v, want %+v", got.ReportFlags, tt.want)
			}
		})
	}
}
