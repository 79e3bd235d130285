package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/runreport"
	"github.com/callstat/callstat/pkg/stats/report"
)

func TestValidateReports(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		flags ReportFlags
		want  string // "" for valid
	}{
		{name: "none"},
		{name: "all", flags: ReportFlags{Report: filepath.Join(dir, "r.json"), JUnit: filepath.Join(dir, "j.xml"), MetricsAddr: "127.0.0.1:0"}},
		{name: "missing directory", flags: ReportFlags{Report: filepath.Join(dir, "no", "r.json")}, want: "invalid --report"},
		{name: "junit is a directory", flags: ReportFlags{JUnit: dir}, want: "invalid --junit " + dir + ": cannot write the report there: " + dir + " is a directory"},
		{name: "same file", flags: ReportFlags{Report: filepath.Join(dir, "x"), JUnit: filepath.Join(dir, "x")}, want: "name the same file"},
		{name: "bad metrics address", flags: ReportFlags{MetricsAddr: "9464"}, want: "invalid --metrics-addr \"9464\": want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.flags.ValidateReports()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !IsFlagErrorWith(err, tt.want) {
				t.Errorf("err = %v, want a usage error with %q", err, tt.want)
			}
		})
	}
}

// Every exit code has a kind in reports, and the kinds are distinct.
func TestExitKinds(t *testing.T) {
	seen := map[string]ExitCode{}
	for c := ExitOK; c <= ExitAssert; c++ {
		k := c.Kind()
		if prev, dup := seen[k]; dup {
			t.Errorf("exit codes %d and %d are both %q", prev, c, k)
		}
		seen[k] = c
	}
	if ExitCode(99).Kind() != runreport.KindError {
		t.Errorf("an unknown code is %q, want %q", ExitCode(99).Kind(), runreport.KindError)
	}
}

// The reporter writes both files with the exit code the command exits
// with; a command that failed before any call still has a failure; a
// write failure is an error.
func TestReporterFinish(t *testing.T) {
	dir := t.TempDir()
	f, _, _ := TestFactory(nil)
	flags := ReportFlags{Report: filepath.Join(dir, "r.json"), JUnit: filepath.Join(dir, "r.xml")}
	run := runreport.Run{Command: "call", Mode: runreport.ModeSingle, Participant: "bob"}

	r := flags.StartReport(f, run)
	v := 4.2
	sum := report.CallSummary{CallID: "c1", Participant: "bob", Direction: "outgoing", Peer: "alice", StatusCode: 480, Reason: "gone",
		MediaFigures: report.MediaFigures{MOSMin: &v}}
	callErr := fmt.Errorf("call c1: %w", call.ErrPeerLost)
	r.AddCall(sum, callErr)
	as, _ := report.ParseAssertions("mos>=4")
	r.AddGates(as, sum, runreport.SubjectCall, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as a signal would
	err := r.Finish(ctx, callErr)
	if !errors.Is(err, call.ErrPeerLost) {
		t.Fatalf("Finish = %v, want the command's error", err)
	}
	got := readBack(t, flags.Report)
	if got.ExitCode != int(ExitPeerLost) || got.ExitReason != runreport.KindPeerLost || got.Outcome != runreport.Failed || !got.Interrupted ||
		len(got.Failures) != 1 || got.Calls[0].Failure.StatusCode != 480 || got.Gates[0].Outcome != runreport.GateSkipped {
		t.Errorf("report %+v", got)
	}
	if b, err := os.ReadFile(flags.JUnit); err != nil || !strings.Contains(string(b), `type="peer_lost"`) {
		t.Errorf("junit %s %v", b, err)
	}

	// Nothing got as far as a call.
	r = flags.StartReport(f, run)
	early := fmt.Errorf("%w: refused", call.ErrServerUnreachable)
	_ = r.Finish(context.Background(), early)
	got = readBack(t, flags.Report)
	if got.ExitCode != int(ExitServerUnreachable) || len(got.Failures) != 1 || got.Failures[0].Kind != runreport.KindServerUnreachable ||
		got.Failures[0].Message != early.Error() || got.Interrupted {
		t.Errorf("early failure: %+v", got)
	}

	// Neither flag: no reporter, and a nil one passes the error through.
	none := (&ReportFlags{}).StartReport(f, run)
	none.AddCall(sum, nil)
	if err := none.Finish(context.Background(), early); !errors.Is(err, early) {
		t.Errorf("nil reporter: %v", err)
	}

	// A report that cannot be written is an error even when the command
	// went well.
	gone := filepath.Join(dir, "gone")
	if err := os.Mkdir(gone, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := ReportFlags{Report: filepath.Join(gone, "r.json")}
	r = bad.StartReport(f, run)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "--report") {
		t.Errorf("unwritable report: %v", err)
	}
}

func readBack(t *testing.T, path string) *runreport.Report {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = fh.Close() }()
	r, err := runreport.ReadJSON(fh)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// --metrics-addr serves until stopped; a busy address is a usage error
// naming it.
func TestStartMetrics(t *testing.T) {
	f, _, _ := TestFactory(nil)
	phone, stop, err := (&ReportFlags{MetricsAddr: "127.0.0.1:0"}).StartMetrics(context.Background(), f)
	if err != nil || phone == nil {
		t.Fatalf("StartMetrics: %v, %v", phone, err)
	}
	stop()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	_, _, err = (&ReportFlags{MetricsAddr: busy.Addr().String()}).StartMetrics(context.Background(), f)
	if !IsFlagErrorWith(err, busy.Addr().String()) {
		t.Errorf("busy address: %v, want a usage error naming it", err)
	}
	phone, stop, err = (&ReportFlags{}).StartMetrics(context.Background(), f)
	if err != nil || phone != nil {
		t.Errorf("without the flag: %v, %v", phone, err)
	}
	stop()
}
