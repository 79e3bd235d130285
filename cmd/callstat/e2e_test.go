package main

// End-to-end tests: the real binary, as separate processes talking over
// loopback, exactly as a CI job would run it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/proclog"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "callstat-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "callstat")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building callstat:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running callstat process whose JSON log lines can be awaited;
// a failure to start, or a line that does not come, fails the test.
type proc struct {
	*proclog.Proc
	t    *testing.T
	name string
}

// start runs callstat with JSON logs at debug level.
func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	return startIn(t, name, "", env, args...)
}

// startIn is start inside the network namespace netns ("" for the test's).
func startIn(t *testing.T, name, netns string, env []string, args ...string) *proc {
	t.Helper()
	args = append([]string{"--log-format", "json", "--log-level", "debug"}, args...)
	cmd := exec.Command(binary, args...)
	if netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", netns, binary}, args...)...)
	}
	cmd.Env = append(os.Environ(), env...)
	return startCmd(t, name, cmd)
}

// startCmd runs a command that runs callstat (perhaps through "ip netns
// exec") and follows its JSON logs. The process is killed when the test
// ends, and its stderr shown if the test failed.
func startCmd(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	pl, err := proclog.Start(cmd)
	if err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{Proc: pl, t: t, name: name}
	t.Cleanup(func() {
		select {
		case <-pl.Done():
		default:
			_ = cmd.Process.Kill()
			<-pl.Done()
		}
		if t.Failed() {
			t.Logf("--- %s stderr:\n%s", name, pl.Stderr())
		}
	})
	return p
}

func (p *proc) stderrText() string { return p.Stderr() }

// waitLog waits for a log line with msg whose attributes include want.
func (p *proc) waitLog(timeout time.Duration, msg string, want map[string]any) map[string]any {
	p.t.Helper()
	line, err := p.Await(timeout, proclog.Match(msg, want))
	if err != nil {
		p.t.Fatalf("%s: %q %v: %v (within %s)", p.name, msg, want, err, timeout)
	}
	return line
}

// waitCount waits until n log lines with msg and want have been logged.
func (p *proc) waitCount(timeout time.Duration, msg string, want map[string]any, n int) {
	p.t.Helper()
	if seen, err := p.AwaitCount(timeout, proclog.Match(msg, want), n); err != nil {
		p.t.Fatalf("%s logged %q %v %d times, want %d: %v (within %s)", p.name, msg, want, seen, n, err, timeout)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.Done():
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %s", p.name, timeout)
	}
	return p.ExitCode()
}

func (p *proc) signal(sig os.Signal) {
	if err := p.Cmd().Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling %s: %v", p.name, err)
	}
}

// serve starts a signaling server on a free loopback port and returns its URL.
func serve(t *testing.T) (string, *proc) {
	t.Helper()
	s := start(t, "serve", nil, "serve", "--listen", "127.0.0.1:0")
	line := s.waitLog(10*time.Second, "signaling server listening", nil)
	return line["ws"].(string), s
}

// answerer registers id and auto-answers.
func answerer(t *testing.T, url, id, storePath string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"answer", "--as", id, "--server", url, "--store", storePath, "--ice-loopback", "--audio", "tone:440"}, extra...)
	a := start(t, "answer "+id, nil, args...)
	a.waitLog(10*time.Second, "registered", nil)
	return a
}

// run runs callstat to completion and returns stdout, stderr and exit code.
func run(t *testing.T, timeout time.Duration, args ...string) (string, string, int) {
	t.Helper()
	return runEnv(t, timeout, nil, args...)
}

// runEnv is run with extra environment variables.
func runEnv(t *testing.T, timeout time.Duration, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	return runCmd(t, ctx, cmd)
}

// runCmd runs cmd, made with ctx, to completion.
func runCmd(t *testing.T, ctx context.Context, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	args := cmd.Args[1:]
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("callstat %v timed out; stderr:\n%s", args, errb.String())
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("callstat %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// seedFile is the stats file's structure: [[callId, [stat, ...]], ...].
type seedCall struct {
	ID    string
	Stats []map[string]any
}

func readStatsFile(t *testing.T, path string) []seedCall {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw [][]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("stats file is not [[callId, [stats...]], ...]: %v", err)
	}
	var out []seedCall
	for _, pair := range raw {
		if len(pair) != 2 {
			t.Fatalf("call entry has %d elements, want 2", len(pair))
		}
		var c seedCall
		if err := json.Unmarshal(pair[0], &c.ID); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(pair[1], &c.Stats); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// samples splits a call's flat list into samples at each SDK entry.
func samples(t *testing.T, c seedCall) [][]map[string]any {
	t.Helper()
	var out [][]map[string]any
	for i, o := range c.Stats {
		if o["type"] == "callstat_sdk_info" {
			out = append(out, nil)
		} else if i == 0 {
			t.Fatalf("call %s: first object is %v, not the SDK entry", c.ID, o["type"])
		}
		out[len(out)-1] = append(out[len(out)-1], o)
	}
	return out
}

func field(sample []map[string]any, typ, name string) (float64, bool) {
	for _, o := range sample {
		if o["type"] == typ {
			v, ok := o[name].(float64)
			return v, ok
		}
	}
	return 0, false
}

var statsFileRE = regexp.MustCompile(`^\d{13}_sdk[A-Za-z0-9.+-]+_call_stats\.json$`)

func dumpFile(t *testing.T, storePath, participant string) []seedCall {
	t.Helper()
	outDir := t.TempDir()
	stdout, stderr, code := run(t, 20*time.Second, "dump", "--store", storePath, "--participant", participant, "--out", outDir)
	if code != 0 {
		t.Fatalf("dump exit %d: %s", code, stderr)
	}
	path := strings.TrimSpace(stdout)
	if filepath.Dir(path) != outDir || !statsFileRE.MatchString(filepath.Base(path)) {
		t.Fatalf("dump printed %q; want a file in %s named like <unix-ms>_sdk<version>_call_stats.json", path, outDir)
	}
	return readStatsFile(t, path)
}

func TestEndToEndCall(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	aliceStore, bobStore := filepath.Join(dir, "alice.db"), filepath.Join(dir, "bob.db")
	answerer(t, url, "alice@example.com", aliceStore)

	stdout, stderr, code := run(t, 30*time.Second, "call", "alice@example.com", "--from", "bob@example.com",
		"--server", url, "--store", bobStore, "--ice-loopback", "--audio", "tone:1000", "--duration", "3s")
	if code != 0 {
		t.Fatalf("call exit %d, want 0; stderr:\n%s", code, stderr)
	}
	callID := strings.TrimSpace(stdout)

	calls := dumpFile(t, bobStore, "bob@example.com")
	if len(calls) != 1 || calls[0].ID != callID {
		t.Fatalf("caller's file holds %d calls (%v), want the one call %s", len(calls), calls, callID)
	}
	ss := samples(t, calls[0])
	if len(ss) < 3 || len(ss) > 6 {
		t.Fatalf("caller has %d samples for a 3 s call, want about 3", len(ss))
	}
	for i, s := range ss {
		sdk := s[0]
		if sdk["callId"] != callID || sdk["sdk"] != "callstat" || !strings.HasPrefix(fmt.Sprint(sdk["id"]), "callstat-sdk-info_") {
			t.Errorf("sample %d SDK entry = %v", i, sdk)
		}
	}
	// Audio flows both ways: the caller's inbound packets grow between
	// samples, and so do the answerer's.
	first, ok1 := field(ss[1], "inbound-rtp", "packetsReceived")
	last, ok2 := field(ss[len(ss)-1], "inbound-rtp", "packetsReceived")
	if !ok1 || !ok2 || last <= first {
		t.Errorf("caller inbound-rtp packetsReceived did not grow: %v -> %v", first, last)
	}
	sent, ok := field(ss[len(ss)-1], "outbound-rtp", "packetsSent")
	if !ok || sent < 100 {
		t.Errorf("caller outbound-rtp packetsSent = %v, want >= 100 after 3 s", sent)
	}

	aliceCalls := dumpFile(t, aliceStore, "alice@example.com")
	if len(aliceCalls) != 1 || aliceCalls[0].ID != callID {
		t.Fatalf("answerer's file: %v", aliceCalls)
	}
	as := samples(t, aliceCalls[0])
	a1, _ := field(as[0], "inbound-rtp", "packetsReceived")
	a2, _ := field(as[len(as)-1], "inbound-rtp", "packetsReceived")
	if a2 <= a1 {
		t.Errorf("answerer inbound-rtp packetsReceived did not grow: %v -> %v", a1, a2)
	}
}

func TestRingKeepsFiveCalls(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	bobStore := filepath.Join(dir, "bob.db")
	answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"))

	var ids []string
	var evictions int
	for i := 0; i < 7; i++ {
		stdout, stderr, code := run(t, 30*time.Second, "--log-format", "json", "call", "alice@example.com", "--from", "bob@example.com",
			"--server", url, "--store", bobStore, "--ice-loopback", "--audio", "tone", "--duration", "300ms", "--interval", "100ms")
		if code != 0 {
			t.Fatalf("call %d exit %d: %s", i, code, stderr)
		}
		ids = append(ids, strings.TrimSpace(stdout))
		evictions += strings.Count(stderr, "Removing all call statistics associated with oldest call.")
	}
	if evictions != 2 {
		t.Errorf("eviction line logged %d times over 7 calls, want 2", evictions)
	}
	calls := dumpFile(t, bobStore, "bob@example.com")
	var got []string
	for _, c := range calls {
		got = append(got, c.ID)
	}
	if strings.Join(got, ",") != strings.Join(ids[2:], ",") {
		t.Errorf("ring holds %v, want the last five %v (oldest first)", got, ids[2:])
	}
}

func TestAnswererDurationEndsCall(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	bobStore := filepath.Join(dir, "bob.db")
	answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"), "--duration", "2s")

	start := time.Now()
	stdout, stderr, code := run(t, 30*time.Second, "--log-format", "json", "call", "alice@example.com", "--from", "bob@example.com",
		"--server", url, "--store", bobStore, "--ice-loopback", "--audio", "tone")
	if code != 0 {
		t.Fatalf("call exit %d, want 0 when the far end hangs up; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, `"state":"Ended"`) || !strings.Contains(stderr, "answerer duration 2s reached") {
		t.Errorf("caller did not log Ended with the answerer's reason:\n%s", stderr)
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Errorf("call ended after %s, before the answerer's 2 s", el)
	}
	calls := dumpFile(t, bobStore, "bob@example.com")
	if len(calls) != 1 || calls[0].ID != strings.TrimSpace(stdout) || len(samples(t, calls[0])) < 2 {
		t.Fatalf("caller's stats not saved: %v", calls)
	}
}

func TestCallFailures(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{
			name:     "unknown callee",
			args:     []string{"call", "nobody@example.com", "--from", "bob@example.com", "--server", url, "--store", filepath.Join(dir, "a.db"), "--ice-loopback", "--audio", "tone"},
			wantCode: 4,
			wantErr:  "callee nobody@example.com is not registered",
		},
		{
			name:     "unreachable server",
			args:     []string{"call", "alice@example.com", "--from", "bob@example.com", "--server", "ws://127.0.0.1:1/ws", "--store", filepath.Join(dir, "b.db"), "--audio", "tone"},
			wantCode: 3,
			wantErr:  "signaling server unreachable",
		},
		{
			name:     "missing --from",
			args:     []string{"call", "alice@example.com", "--server", url},
			wantCode: 2,
			wantErr:  "--from is required",
		},
		{
			name:     "bad server URL",
			args:     []string{"call", "alice@example.com", "--from", "b", "--server", "http://x"},
			wantCode: 2,
			wantErr:  "invalid --server",
		},
		{
			name:     "unknown flag",
			args:     []string{"call", "alice@example.com", "--from", "b", "--bogus"},
			wantCode: 2,
			wantErr:  "unknown flag: --bogus",
		},
		{
			name:     "bad audio",
			args:     []string{"answer", "--as", "a", "--audio", "tone:abc"},
			wantCode: 2,
			wantErr:  "invalid audio source",
		},
		{
			name:     "dump of an empty store",
			args:     []string{"dump", "--store", filepath.Join(dir, "missing.db"), "--out", dir},
			wantCode: 12,
			wantErr:  "no store at",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, 20*time.Second, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, stderr)
			}
		})
	}
}

func TestServeHealthAndSignals(t *testing.T) {
	t.Parallel()
	url, srv := serve(t)
	health := strings.Replace(strings.Replace(url, "ws://", "http://", 1), "/ws", "/healthz", 1)
	resp, err := http.Get(health)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"ok"`) {
		t.Errorf("/healthz = %d %s", resp.StatusCode, body)
	}
	srv.signal(syscall.SIGTERM)
	if code := srv.wait(10 * time.Second); code != 0 {
		t.Errorf("serve exit %d after SIGTERM, want 0", code)
	}
}

// One real call, checked the way a CI job uses callstat: the summary at
// the end of the call and from the store, a gate that must fail, the
// references of every sample, and the webrtc-internals export against the
// seed file.
func TestEndToEndStatsAndGates(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	aliceStore, bobStore := filepath.Join(dir, "alice.db"), filepath.Join(dir, "bob.db")
	alice := answerer(t, url, "alice@example.com", aliceStore)

	// MOS tops out at 4.43: this gate cannot pass, so the call exits 13.
	stdout, stderr, code := run(t, 30*time.Second, "call", "alice@example.com", "--from", "bob@example.com",
		"--server", url, "--store", bobStore, "--ice-loopback", "--audio", "tone", "--duration", "3s", "--assert", "mos>=4.5,loss<=1%")
	callID := strings.TrimSpace(stdout)
	if code != 13 {
		t.Fatalf("call --assert mos>=4.5 exit %d, want 13; stderr:\n%s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^assertion failed: call `+regexp.QuoteMeta(callID)+`: mos min is [0-9.]+, limit >= 4\.50 \(mos>=4\.5\)$`).MatchString(stderr) ||
		strings.Contains(stderr, "loss is") {
		t.Errorf("stderr lacks exactly one breach line for mos:\n%s", stderr)
	}
	if !regexp.MustCompile(`(?m)^CALL\s+PARTICIPANT\s+START.*MOS min/mean$`).MatchString(stderr) ||
		!regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(callID)+`\s+bob@example\.com\s`).MatchString(stderr) {
		t.Errorf("call did not print its summary:\n%s", stderr)
	}
	// The answerer (JSON logs) prints its own summary of the call, as a
	// JSON line like its log lines.
	line := alice.waitLog(10*time.Second, "call summary", map[string]any{"level": "INFO"})
	if sum, _ := line["summary"].(map[string]any); sum["callId"] != callID || sum["participant"] != "alice@example.com" ||
		sum["endState"] != "Ended" || sum["mosMean"] == nil {
		t.Errorf("answerer's summary line = %v", line)
	}

	// summary: the same call, as JSON; a gate it meets; a malformed gate.
	// A gate a loopback call meets even on a busy machine (a process
	// descheduled for a while reads as jitter).
	out, errOut, code := run(t, 20*time.Second, "summary", "--store", bobStore, "--json", "--assert", "mos>=3.5,loss<=1%,rtt<=150ms,jitter<=100ms")
	if code != 0 {
		t.Fatalf("summary exit %d: %s", code, errOut)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("summary --json: %v\n%s", err, out)
	}
	r := rows[0]
	if r["callId"] != callID || r["endState"] != "Ended" || r["packetsSent"].(float64) < 100 || r["packetsReceived"].(float64) < 100 ||
		r["lossPercent"] != 0.0 || r["rttP50Ms"] == nil || r["jitterP95Ms"] == nil || r["setupMs"] == nil {
		t.Errorf("summary row = %v", r)
	}
	if mos, _ := r["mosMean"].(float64); mos < 4.0 || mos > 4.44 {
		t.Errorf("MOS mean on loopback = %v, want about 4.4", r["mosMean"])
	}
	if _, errOut, code := run(t, 20*time.Second, "summary", "--store", bobStore, "--assert", "rtt<=150ms,jitter<30xs"); code != 2 ||
		!strings.Contains(errOut, "invalid --assert at column 21") || !strings.Contains(errOut, "\n  "+strings.Repeat(" ", 20)+"^\n") {
		t.Errorf("malformed --assert: exit %d, stderr:\n%s", code, errOut)
	}

	// Every reference of every sample resolves inside the sample.
	calls := dumpFile(t, bobStore, "bob@example.com")
	for i, s := range samples(t, calls[0]) {
		ids := map[string]bool{}
		for _, o := range s {
			ids[fmt.Sprint(o["id"])] = true
		}
		for _, o := range s {
			for k, v := range o {
				if ref, ok := v.(string); ok && strings.HasSuffix(k, "Id") && k != "callId" && !ids[ref] {
					t.Errorf("sample %d: %v.%s = %q names no object", i, o["id"], k, ref)
				}
			}
		}
	}

	// The webrtc-internals export holds the seed file's values.
	outDir := t.TempDir()
	out, errOut, code = run(t, 20*time.Second, "dump", "--store", bobStore, "--format", "webrtc-internals", "--out", outDir)
	if code != 0 {
		t.Fatalf("dump --format webrtc-internals exit %d: %s", code, errOut)
	}
	path := strings.TrimSpace(out)
	if !regexp.MustCompile(`^\d{13}_sdk[A-Za-z0-9.+-]+_webrtc_internals\.json$`).MatchString(filepath.Base(path)) {
		t.Fatalf("dump printed %q", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dump struct {
		PeerConnections map[string]struct {
			Stats map[string]struct{ StatsType, Values string }
		}
		UserAgent     string
		UserAgentData []map[string]string
	}
	if err := json.Unmarshal(data, &dump); err != nil {
		t.Fatal(err)
	}
	pc, ok := dump.PeerConnections["1-"+callID]
	if !ok || !strings.HasPrefix(dump.UserAgent, "callstat/") || len(dump.UserAgentData) != 1 {
		t.Fatalf("dump: connections %v, UserAgent %q, UserAgentData %v", len(dump.PeerConnections), dump.UserAgent, dump.UserAgentData)
	}
	want := map[string][]any{}
	types := map[string]string{}
	for _, o := range calls[0].Stats {
		for k, v := range o {
			if k != "id" && k != "type" {
				key := fmt.Sprint(o["id"], "-", k)
				want[key] = append(want[key], v)
				types[key] = fmt.Sprint(o["type"])
			}
		}
	}
	if len(pc.Stats) != len(want) {
		t.Errorf("export has %d series, seed file %d", len(pc.Stats), len(want))
	}
	for key, vs := range want {
		var got []any
		if err := json.Unmarshal([]byte(pc.Stats[key].Values), &got); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(vs) || pc.Stats[key].StatsType != types[key] {
			t.Errorf("%s: export %v (%s), seed file %v (%s)", key, got, pc.Stats[key].StatsType, vs, types[key])
		}
	}
}
