package format_test

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/testdata"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/format"
	"github.com/callstat/callstat/pkg/stats/report"
)

var testSDK = stats.SDKInfo{SDK: "callstat", Version: "1.2.3", InstanceID: "0d6f1c1e-5b1a-4a53-9a0e-3f0c3c1b7a11", Platform: "linux/amd64 go1.26"}

var (
	statsNameRE = regexp.MustCompile(`^\d{13}_sdk[A-Za-z0-9.+-]+_call_stats\.json$`)
	logsNameRE  = regexp.MustCompile(`^\d{13}_sdk[A-Za-z0-9.+-]+_logs\.ndjson$`)
)

func TestFileNames(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	tests := []struct {
		version string
		want    string // the version as it appears in the name
	}{
		{"5.4.0", "5.4.0"},
		{"1.2.3-rc.1+dirty", "1.2.3-rc.1+dirty"},
		{"0.0.0-20240101120000-abcdef123456", "0.0.0-20240101120000-abcdef123456"},
		{"", "unknown"},
		{"(devel)", "-devel-"},
		{"1.0 beta/2", "1.0-beta-2"},
		{"../../etc", "..-..-etc"},
		{"v1_2", "v1-2"},
		{"é1", "-1"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			name := format.StatsFileName(now, tt.version)
			if want := "1700000000123_sdk" + tt.want + "_call_stats.json"; name != want {
				t.Errorf("StatsFileName = %q, want %q", name, want)
			}
			if !statsNameRE.MatchString(name) {
				t.Errorf("StatsFileName = %q does not match %s", name, statsNameRE)
			}
			logs := format.LogsFileName(now, tt.version)
			if want := "1700000000123_sdk" + tt.want + "_logs.ndjson"; logs != want {
				t.Errorf("LogsFileName = %q, want %q", logs, want)
			}
			if !logsNameRE.MatchString(logs) {
				t.Errorf("LogsFileName = %q does not match %s", logs, logsNameRE)
			}
			if strings.ContainsRune(name, os.PathSeparator) {
				t.Errorf("%q holds a path separator", name)
			}
		})
	}
}

func TestStatsFileNameNow(t *testing.T) {
	// Date.now() has 13 digits from 2001 to 2286.
	if name := format.StatsFileName(time.Now(), "1.0.0"); !statsNameRE.MatchString(name) {
		t.Errorf("StatsFileName(now) = %q does not match %s", name, statsNameRE)
	}
}

var errFill = errors.New("disk full")

func TestWriteFileAtomic(t *testing.T) {
	t.Run("writes", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new", "dir") // created on demand
		path, err := format.WriteFileAtomic(dir, "f.json", func(w io.Writer) error {
			_, err := io.WriteString(w, "[]")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "f.json"); path != want {
			t.Errorf("path = %q, want %q", path, want)
		}
		data, err := os.ReadFile(path)
		if err != nil || string(data) != "[]" {
			t.Errorf("content = %q, %v; want []", data, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o644 {
			t.Errorf("mode = %v, want 0644", perm)
		}
		assertOnly(t, dir, "f.json")
	})

	t.Run("refuses to overwrite", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "f.json")
		if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := format.WriteFileAtomic(dir, "f.json", func(w io.Writer) error {
			_, err := io.WriteString(w, "new")
			return err
		})
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("err = %v, want fs.ErrExist", err)
		}
		if data, _ := os.ReadFile(path); string(data) != "old" {
			t.Errorf("existing file now holds %q", data)
		}
		assertOnly(t, dir, "f.json")
	})

	t.Run("fill fails", func(t *testing.T) {
		dir := t.TempDir()
		_, err := format.WriteFileAtomic(dir, "f.json", func(w io.Writer) error {
			// More than the buffer, so that some of it reached the file.
			if _, err := w.Write(make([]byte, 1<<20)); err != nil {
				return err
			}
			return errFill
		})
		if !errors.Is(err, errFill) {
			t.Fatalf("err = %v, want the fill error", err)
		}
		assertOnly(t, dir)
	})
}

// assertOnly fails unless dir holds exactly the named files: no temporary
// file is left behind.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(names) || (len(names) > 0 && !reflect.DeepEqual(got, names)) {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

func TestFileCallJSONRoundTrip(t *testing.T) {
	s1 := stats.NewSample(testSDK, "c1", "bob", 0, time.UnixMilli(1000), stats.Report{State: "Connected", Objects: []stats.Object{
		{"id": "PC", "type": "peer-connection", "timestamp": 1000.0},
		{"id": "IT", "type": "inbound-rtp", "timestamp": 1000.0, "packetsReceived": 50.0},
	}})
	s2 := stats.NewSample(testSDK, "c1", "bob", 1, time.UnixMilli(2000), stats.Report{State: "Connected", Objects: []stats.Object{
		{"id": "PC", "type": "peer-connection", "timestamp": 2000.0},
	}})
	in := []format.FileCall{
		{CallID: "c1", Objects: append(append([]stats.Object{}, s1.Objects...), s2.Objects...)},
		{CallID: "c2", Objects: []stats.Object{}},
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	// The seed's exact shape: [[callId, [stat, ...]], ...].
	var raw [][2]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s is not [[callId, [...]], ...]: %v", data, err)
	}
	if string(raw[1][1]) != "[]" {
		t.Errorf("empty call encodes as %s, want []", raw[1][1])
	}
	out, err := format.ReadFile(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip:\n got %v\nwant %v", out, in)
	}
	samples := out[0].Samples()
	if len(samples) != 2 || len(samples[0]) != 3 || len(samples[1]) != 2 {
		t.Fatalf("Samples() lengths wrong: %v", samples)
	}
	for i, s := range samples {
		if !stats.IsSDKEntry(s[0]) {
			t.Errorf("sample %d starts with %v, not the SDK entry", i, s[0])
		}
	}
	if got := out[1].Samples(); len(got) != 0 {
		t.Errorf("Samples() of an empty call = %v", got)
	}
}

func TestReadFileRejects(t *testing.T) {
	for _, in := range []string{"", "null", "{}", `[["c"]]`, `[[1, []]]`, `[["c", {}]]`, `[["c", [1]]]`, `[["c", []]] x`, `[`} {
		if _, err := format.ReadFile(strings.NewReader(in)); !errors.Is(err, format.ErrNotStatsFile) {
			t.Errorf("ReadFile(%q) = %v, want ErrNotStatsFile", in, err)
		}
	}
	calls, err := format.ReadFile(strings.NewReader(" [] \n"))
	if err != nil || len(calls) != 0 {
		t.Errorf("ReadFile([]) = %v, %v", calls, err)
	}
}

// The example in testdata is a real "callstat demo" file; read it as a
// consumer would.
func TestExampleFile(t *testing.T) {
	f, err := os.Open(testdata.Path(t, "stats", "example_call_stats.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	calls, err := format.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	samples := calls[0].Samples()
	if n := len(samples); n < 2 || n > 3 {
		t.Fatalf("%d samples, want 2 or 3", n)
	}
	var z report.Summarizer
	for i, s := range samples {
		head := s[0]
		if head.Type() != "callstat_sdk_info" || head["callId"] != calls[0].CallID {
			t.Errorf("sample %d starts with %v", i, head)
		}
		if !regexp.MustCompile(`^callstat-sdk-info_[0-9a-f-]{36}$`).MatchString(head.ID()) {
			t.Errorf("SDK entry id %q", head.ID())
		}
		types := map[string]bool{}
		rest := append([]stats.Object(nil), s[1:]...)
		for _, o := range rest {
			types[o.Type()] = true
		}
		for _, want := range []string{"peer-connection", "transport", "candidate-pair", "local-candidate", "remote-candidate", "codec", "outbound-rtp", "inbound-rtp"} {
			if !types[want] {
				t.Errorf("sample %d has no %s", i, want)
			}
		}
		stats.SortObjects(rest)
		if !reflect.DeepEqual(rest, s[1:]) {
			t.Errorf("sample %d is not in file order", i)
		}
		z.Add(s)
	}
	sum := z.Summary()
	if sum.Samples != len(samples) || sum.PacketsSent <= 0 || sum.PacketsReceived <= 0 || sum.RTTP50Ms == nil {
		t.Errorf("summary of the example = %+v", sum)
	}
}
