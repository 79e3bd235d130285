package dumpcmd

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/format"
	"github.com/callstat/callstat/pkg/stats/store"
)

func TestNewCmdDump(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		env     map[string]string
		want    Options
		wantErr string
	}{
		{name: "defaults", env: map[string]string{"XDG_STATE_HOME": "/x"}, want: Options{Store: "/x/callstat/callstat.db", Out: ".", Format: "seed"}},
		{name: "env store", env: map[string]string{"CALLSTAT_STORE": "/s.db"}, want: Options{Store: "/s.db", Out: ".", Format: "seed"}},
		{name: "flags", args: "-p bob --out artifacts --store a.db", want: Options{Store: "a.db", Participant: "bob", Out: "artifacts", Format: "seed"}},
		{name: "stdout", args: "--out -", env: map[string]string{"HOME": "/h"}, want: Options{Store: "/h/.local/state/callstat/callstat.db", Out: "-", Format: "seed"}},
		{name: "webrtc-internals", args: "--format webrtc-internals --store a.db", want: Options{Store: "a.db", Out: ".", Format: "webrtc-internals"}},
		{name: "empty out", args: "--out=", wantErr: "--out must not be empty"},
		{name: "unknown format", args: "--format csv", wantErr: `invalid --format "csv": use seed or webrtc-internals`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(tt.env)
			var got *Options
			cmd := NewCmdDump(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(strings.Fields(tt.args))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.ExecuteContext(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Store != tt.want.Store || got.Participant != tt.want.Participant || got.Out != tt.want.Out || got.Format != tt.want.Format {
				t.Errorf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// fill stores n calls with two samples each for participant.
func fill(t *testing.T, path, participant string, n int) []string {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	info := stats.SDKInfo{SDK: "callstat", Version: "1", InstanceID: "i", Platform: "p"}
	var ids []string
	for i := 0; i < n; i++ {
		id := participant + "-call-" + string(rune('a'+i))
		ids = append(ids, id)
		start := time.UnixMilli(1700000000000 + int64(i)*10000)
		b := stats.Batch{Begins: []stats.CallRecord{{CallID: id, Participant: participant, Direction: "outgoing", Peer: "x", StartedAt: start}}}
		for s := 0; s < 2; s++ {
			b.Samples = append(b.Samples, stats.NewSample(info, id, participant, s, start.Add(time.Duration(s+1)*time.Second),
				stats.Report{State: "Connected", Objects: []stats.Object{{"id": "T", "type": "transport", "timestamp": 1.0}}}))
		}
		b.Ends = []stats.EndRecord{{CallID: id, Participant: participant, State: "Ended", EndedAt: start.Add(3 * time.Second)}}
		if _, err := st.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	storePath := filepath.Join(dir, "s.db")
	ids := fill(t, storePath, "bob@example.com", 2)

	t.Run("file", func(t *testing.T) {
		f, out, _ := cmdutil.TestFactory(nil)
		outDir := filepath.Join(dir, "artifacts")
		if err := dumpRun(context.Background(), &Options{Factory: f, Store: storePath, Out: outDir, Format: FormatSeed}); err != nil {
			t.Fatal(err)
		}
		path := strings.TrimSpace(out.String())
		if want := filepath.Join(outDir, "1700000000123_sdk1.2.3-test_call_stats.json"); path != want {
			t.Fatalf("printed %q, want %q", path, want)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var ring []json.RawMessage
		if err := json.Unmarshal(data, &ring); err != nil || len(ring) != 2 {
			t.Fatalf("file holds %d calls (%v)", len(ring), err)
		}
		var first []json.RawMessage
		_ = json.Unmarshal(ring[0], &first)
		var id string
		_ = json.Unmarshal(first[0], &id)
		if id != ids[0] {
			t.Errorf("first call %s, want oldest %s", id, ids[0])
		}
	})
	t.Run("stdout", func(t *testing.T) {
		f, out, _ := cmdutil.TestFactory(nil)
		if err := dumpRun(context.Background(), &Options{Factory: f, Store: storePath, Participant: "bob@example.com", Out: "-", Format: FormatSeed}); err != nil {
			t.Fatal(err)
		}
		var ring [][]json.RawMessage
		if err := json.Unmarshal(out.Bytes(), &ring); err != nil || len(ring) != 2 {
			t.Fatalf("stdout is not a ring of 2: %v %q", err, out.String())
		}
	})
	t.Run("webrtc-internals", func(t *testing.T) {
		f, out, _ := cmdutil.TestFactory(nil)
		outDir := filepath.Join(dir, "internals")
		if err := dumpRun(context.Background(), &Options{Factory: f, Store: storePath, Participant: "bob@example.com", Out: outDir, Format: FormatInternals}); err != nil {
			t.Fatal(err)
		}
		path := strings.TrimSpace(out.String())
		if want := filepath.Join(outDir, "1700000000123_sdk1.2.3-test_webrtc_internals.json"); path != want {
			t.Fatalf("printed %q, want %q", path, want)
		}
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		d := readInternals(t, file)
		if len(d.PeerConnections) != 2 || d.PeerConnections["1-"+ids[0]].Stats["T-timestamp"].Values != "[1,1]" {
			t.Errorf("dump holds %d connections: %+v", len(d.PeerConnections), d.PeerConnections)
		}
	})
	t.Run("webrtc-internals on stdout", func(t *testing.T) {
		f, out, _ := cmdutil.TestFactory(nil)
		if err := dumpRun(context.Background(), &Options{Factory: f, Store: storePath, Participant: "bob@example.com", Out: "-", Format: FormatInternals}); err != nil {
			t.Fatal(err)
		}
		readInternals(t, out)
	})
	t.Run("unknown participant", func(t *testing.T) {
		f, _, _ := cmdutil.TestFactory(nil)
		err := dumpRun(context.Background(), &Options{Factory: f, Store: storePath, Participant: "nobody", Out: dir})
		if !errors.Is(err, store.ErrNoParticipant) {
			t.Errorf("err = %v, want ErrNoParticipant", err)
		}
	})
	t.Run("ambiguous", func(t *testing.T) {
		fill(t, storePath, "carol@example.com", 1)
		f, _, _ := cmdutil.TestFactory(nil)
		err := dumpRun(context.Background(), &Options{Factory: f, Store: storePath, Out: dir})
		if !errors.Is(err, store.ErrAmbiguous) || !strings.Contains(err.Error(), "--participant") {
			t.Errorf("err = %v, want ErrAmbiguous naming --participant", err)
		}
	})
	t.Run("unwritable out", func(t *testing.T) {
		f, out, _ := cmdutil.TestFactory(nil)
		blocker := filepath.Join(dir, "file")
		if err := os.WriteFile(blocker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		err := dumpRun(context.Background(), &Options{Factory: f, Store: storePath, Participant: "bob@example.com", Out: filepath.Join(blocker, "sub")})
		if err == nil || out.Len() != 0 {
			t.Errorf("err = %v, stdout %q: want an error and no path", err, out.String())
		}
	})
}

// A damaged sample row costs the samples up to the next keyframe: the
// dump writes the rest and warns.
func TestRunDamagedRow(t *testing.T) {
	storePath := filepath.Join(t.TempDir(), "s.db")
	ids := fill(t, storePath, "bob@example.com", 1)
	db, err := sql.Open("sqlite", storePath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The second sample is a delta after the first, a keyframe.
	if res, err := db.Exec(`UPDATE samples SET body = X'00' WHERE n = 1 AND enc = 2`); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%d delta rows damaged, want 1", n)
	}
	f, out, _ := cmdutil.TestFactory(nil)
	var logs strings.Builder
	f.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if err := dumpRun(context.Background(), &Options{Factory: f, Store: storePath, Out: "-", Format: FormatSeed}); err != nil {
		t.Fatal(err)
	}
	calls, err := format.ReadFile(strings.NewReader(out.String()))
	if err != nil || len(calls) != 1 || calls[0].CallID != ids[0] || len(calls[0].Samples()) != 1 {
		t.Fatalf("dump of a store with a damaged row: %v, %+v", err, calls)
	}
	if !strings.Contains(logs.String(), "samples left out") || !strings.Contains(logs.String(), "samples=1") {
		t.Errorf("no warning about the damaged row:\n%s", logs.String())
	}
}

// readInternals decodes a webrtc-internals dump, as importers read it:
// they reject one without PeerConnections or UserAgentData.
func readInternals(t *testing.T, r io.Reader) *format.InternalsDump {
	t.Helper()
	var d format.InternalsDump
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		t.Fatalf("not a webrtc-internals dump: %v", err)
	}
	if d.PeerConnections == nil || d.UserAgentData == nil {
		t.Fatalf("not a webrtc-internals dump: PeerConnections or UserAgentData missing")
	}
	return &d
}
