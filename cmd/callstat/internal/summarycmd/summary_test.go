package summarycmd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/report"
	"github.com/callstat/callstat/pkg/stats/store"
)

func TestNewCmdSummary(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    Options
		asserts int
		wantErr string
	}{
		{name: "defaults", env: map[string]string{"XDG_STATE_HOME": "/x"}, want: Options{Store: "/x/callstat/callstat.db"}},
		{name: "flags", args: []string{"-p", "bob", "--json", "--store", "a.db"}, want: Options{Store: "a.db", Participant: "bob", JSON: true}},
		{
			name: "assertions", args: []string{"--store", "a.db", "--assert", "mos>=4.0,loss<=1%,rtt<=150ms,jitter<=30ms"},
			want: Options{Store: "a.db", Assert: "mos>=4.0,loss<=1%,rtt<=150ms,jitter<=30ms"}, asserts: 4,
		},
		{name: "malformed assertion", args: []string{"--assert", "mos>=4.0,lost<=1%"}, wantErr: "invalid --assert at column 10: unknown metric \"lost\""},
		{name: "an argument", args: []string{"bob"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(tt.env)
			var got *Options
			cmd := NewCmdSummary(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.ExecuteContext(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(tt.wantErr, "--assert") && cmdutil.ExitCodeFor(err) != cmdutil.ExitUsage {
					t.Errorf("a malformed --assert exits %d, want %d", cmdutil.ExitCodeFor(err), cmdutil.ExitUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Store != tt.want.Store || got.Participant != tt.want.Participant || got.JSON != tt.want.JSON ||
				got.Assert != tt.want.Assert || len(got.Assertions) != tt.asserts {
				t.Errorf("options %+v, want %+v with %d assertions", *got, tt.want, tt.asserts)
			}
		})
	}
}

var t0 = time.UnixMilli(1_700_000_000_000)

// fill stores a participant's call: n samples at 1 s, packets and quality
// as the sample number says.
func fill(t *testing.T, path, participant, callID string, n int, rttMs, lossPerSample float64) {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	info := stats.SDKInfo{SDK: "callstat", Version: "1", InstanceID: "i", Platform: "p"}
	b := stats.Batch{Begins: []stats.CallRecord{{CallID: callID, Participant: participant, Direction: "outgoing", Peer: "alice", StartedAt: t0}}}
	var prev []stats.Object
	for i := 1; i <= n; i++ {
		r := stats.Report{State: "Connected", Objects: []stats.Object{
			{"id": "RI", "type": "remote-inbound-rtp", "timestamp": 1.0, "roundTripTime": rttMs / 1000, "roundTripTimeMeasurements": float64(i)},
			{"id": "IN", "type": "inbound-rtp", "timestamp": 1.0, "packetsReceived": float64(50*i) - lossPerSample*float64(i),
				"packetsLost": lossPerSample * float64(i), "jitter": 0.004},
			{"id": "OUT", "type": "outbound-rtp", "timestamp": 1.0, "packetsSent": float64(50 * i)},
		}}
		s := stats.NewSample(info, callID, participant, i-1, t0.Add(time.Duration(i)*time.Second), r)
		if q, ok := stats.IntervalQuality(prev, s.Objects); ok {
			q.SetOn(s.Objects[0])
		}
		prev = s.Objects
		b.Samples = append(b.Samples, s)
	}
	b.Ends = []stats.EndRecord{{CallID: callID, Participant: participant, ConnectedAt: t0.Add(400 * time.Millisecond),
		EndedAt: t0.Add(time.Duration(n) * time.Second), State: "Ended", StatusCode: 200, Reason: "bye"}}
	if _, err := st.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	fill(t, path, "bob@example.com", "good-call", 5, 20, 0)
	fill(t, path, "bob@example.com", "lossy-call", 5, 300, 5) // 10 % loss at 300 ms
	fill(t, path, "carol@example.com", "carol-call", 3, 10, 0)

	run := func(o Options) (string, string, error) {
		f, out, errOut := cmdutil.TestFactory(nil)
		o.Factory, o.Store = f, path
		as, err := report.ParseAssertions(o.Assert)
		if err != nil {
			t.Fatal(err)
		}
		o.Assertions = as
		err = summaryRun(context.Background(), &o)
		return out.String(), errOut.String(), err
	}

	t.Run("table of every participant", func(t *testing.T) {
		out, _, err := run(Options{})
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "CALL") || !strings.Contains(out, "MOS min/mean") {
			t.Fatalf("table:\n%s", out)
		}
		for i, id := range []string{"good-call", "lossy-call", "carol-call"} {
			if !strings.HasPrefix(lines[i+1], id) {
				t.Errorf("row %d = %q, want call %s", i+1, lines[i+1], id)
			}
		}
		if !strings.Contains(lines[2], "10.00%") || !strings.Contains(lines[2], "Ended (200 bye)") ||
			!strings.Contains(lines[2], "300.0/300.0ms") || !strings.Contains(lines[1], "400ms") {
			t.Errorf("row figures:\n%s", out)
		}
	})
	t.Run("json of one participant", func(t *testing.T) {
		out, _, err := run(Options{Participant: "bob@example.com", JSON: true})
		if err != nil {
			t.Fatal(err)
		}
		var rows []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if len(rows) != 2 || rows[0]["callId"] != "good-call" || rows[1]["lossPercent"] != 10.0 || rows[0]["samples"] != 5.0 ||
			rows[0]["setupMs"] != 400.0 || rows[0]["durationMs"] != 4600.0 || rows[0]["endState"] != "Ended" {
			t.Errorf("rows = %v", rows)
		}
		if mos, _ := rows[0]["mosMin"].(float64); mos < 4.3 {
			t.Errorf("good call mosMin = %v", rows[0]["mosMin"])
		}
		if mos, _ := rows[1]["mosMean"].(float64); mos > 3.5 {
			t.Errorf("lossy call mosMean = %v", rows[1]["mosMean"])
		}
	})
	t.Run("assertions met", func(t *testing.T) {
		_, errOut, err := run(Options{Participant: "carol@example.com", Assert: "mos>=4.0,loss<=1%,rtt<=150ms,jitter<=30ms"})
		if err != nil || errOut != "" {
			t.Errorf("err = %v, stderr %q", err, errOut)
		}
	})
	t.Run("assertions breached", func(t *testing.T) {
		out, errOut, err := run(Options{Participant: "bob@example.com", Assert: "mos>=4.0,loss<=1%,rtt<=150ms,jitter<=30ms"})
		if !errors.Is(err, report.ErrAssertionFailed) || cmdutil.ExitCodeFor(err) != cmdutil.ExitAssert {
			t.Fatalf("err = %v (exit %d), want exit 13", err, cmdutil.ExitCodeFor(err))
		}
		if !strings.Contains(out, "lossy-call") {
			t.Error("the table is printed even when an assertion fails")
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		want := []string{
			"assertion failed: call lossy-call: mos min is",
			"assertion failed: call lossy-call: loss is 10.00 %, limit <= 1.00 % (loss<=1%)",
			"assertion failed: call lossy-call: rtt p95 is 300.0 ms, limit <= 150.0 ms (rtt<=150ms)",
		}
		if len(lines) != len(want) {
			t.Fatalf("stderr:\n%s\nwant %d lines", errOut, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(lines[i], w) {
				t.Errorf("line %d = %q, want %q…", i, lines[i], w)
			}
		}
	})
	t.Run("unknown participant", func(t *testing.T) {
		_, _, err := run(Options{Participant: "nobody"})
		if cmdutil.ExitCodeFor(err) != cmdutil.ExitNoData {
			t.Errorf("err = %v, want exit 12", err)
		}
	})
	t.Run("no store", func(t *testing.T) {
		f, _, _ := cmdutil.TestFactory(nil)
		err := summaryRun(context.Background(), &Options{Factory: f, Store: filepath.Join(dir, "missing.db")})
		if !errors.Is(err, store.ErrNoParticipant) || !strings.Contains(err.Error(), "no store at") {
			t.Errorf("err = %v", err)
		}
	})
}
