package main

// End-to-end tests of what a person watching a call and a script driving
// one see: the events stream, JSON logs, the stored log download, the
// status line on a terminal, and nothing but data on stdout.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

type event struct {
	Type        string `json:"type"`
	Timestamp   int64  `json:"timestamp"`
	Participant string `json:"participant"`
	CallID      string `json:"callId"`
	Direction   string `json:"direction"`
	From        string `json:"from"`
	To          string `json:"to"`
	State       string `json:"state"`
	Previous    *struct {
		State      string `json:"state"`
		LocalHold  *bool  `json:"localHold"`
		RemoteHold *bool  `json:"remoteHold"`
	} `json:"previous"`
	Transition *struct {
		StatusCode int    `json:"statusCode"`
		ReasonText string `json:"reasonText"`
	} `json:"transition"`
	Error  *struct{ Code, Name, Message string } `json:"error"`
	Result []map[string]any                      `json:"result"`
}

// A script runs a call with --events - and JSON logs; the far end hangs up.
// stdout carries the event stream and nothing else, stderr JSON log lines
// only, and the caller's log download holds the call's log.
func TestEventsLogsAndDownload(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	bobStore := filepath.Join(dir, "bob.db")
	answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"), "--duration", "2s")

	stdout, stderr, code := run(t, 60*time.Second, "--log-format", "json", "call", "alice@example.com", "--from", "bob@example.com",
		"--server", url, "--store", bobStore, "--ice-loopback", "--audio", "tone", "--interval", "200ms", "--events", "-")
	if code != 0 {
		t.Fatalf("call exit %d, want 0; stderr:\n%s", code, stderr)
	}

	// stdout: events only, one JSON object per line.
	var evs []event
	for i, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var ev event
		if err := dec.Decode(&ev); err != nil || ev.Type == "" || ev.Timestamp == 0 {
			t.Fatalf("stdout line %d is not an event (%v): %q", i+1, err, line)
		}
		evs = append(evs, ev)
	}
	var states []string
	var stats int
	for _, ev := range evs {
		switch ev.Type {
		case "call:start":
			states = append(states, ev.Type)
		case "call:stateChange":
			states = append(states, ev.Previous.State+">"+ev.State)
		case "call:statsReceived":
			stats++
			if len(ev.Result) == 0 || ev.Result[0]["type"] != "callstat_sdk_info" {
				t.Errorf("statsReceived without the sample: %v", ev.Result)
			}
		case "call:error":
			t.Errorf("call:error on a normal call: %+v", ev.Error)
		}
		if ev.CallID != evs[0].CallID || ev.Participant != "bob@example.com" {
			t.Errorf("event %+v is not about bob's call %s", ev, evs[0].CallID)
		}
	}
	want := "call:start Initiating>Initiated Initiated>Ringing Ringing>Connected Connected>Ended"
	if got := strings.Join(states, " "); got != want {
		t.Errorf("events %q\nwant   %q", got, want)
	}
	if stats < 5 {
		t.Errorf("%d statsReceived events over a 2 s call at 200 ms, want at least 5", stats)
	}
	end := evs[0]
	for _, ev := range evs {
		if ev.Type == "call:stateChange" && ev.State == "Ended" {
			end = ev
		}
	}
	if end.Transition == nil || end.Transition.StatusCode != http.StatusOK || !strings.Contains(end.Transition.ReasonText, "answerer duration 2s reached") ||
		end.Previous.LocalHold == nil || *end.Previous.LocalHold {
		t.Errorf("Ended event = %+v", end)
	}

	// stderr: JSON log lines only, no control characters (not a terminal).
	checkJSONLines(t, stderr)

	// The caller's log download.
	outDir := t.TempDir()
	dumpOut, dumpErr, code := run(t, 20*time.Second, "dump", "--store", bobStore, "--logs", "--out", outDir)
	if code != 0 {
		t.Fatalf("dump --logs exit %d: %s", code, dumpErr)
	}
	paths := strings.Fields(dumpOut)
	if len(paths) != 2 || !regexp.MustCompile(`^\d{13}_sdk[A-Za-z0-9.+-]+_logs\.ndjson$`).MatchString(filepath.Base(paths[1])) {
		t.Fatalf("dump --logs printed %q", dumpOut)
	}
	data, err := os.ReadFile(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	var connected bool
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for i, line := range lines {
		var e struct {
			Timestamp int64
			Level     string
			Target    struct{ Type, ID string }
			Messages  []any
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil || len(e.Messages) == 0 {
			t.Fatalf("log line %d is not a log entry: %v %q", i+1, err, line)
		}
		if e.Timestamp < last {
			t.Errorf("log entry %d is older than the one before", i+1)
		}
		last = e.Timestamp
		if e.Messages[0] == "call state changed" && e.Target.Type == "Call" && e.Target.ID == evs[0].CallID &&
			len(e.Messages) > 1 && e.Messages[1].(map[string]any)["state"] == "Connected" {
			connected = true
		}
	}
	if len(lines) > 1000 || !connected {
		t.Errorf("log download: %d entries (max 1000), Connected entry found: %v", len(lines), connected)
	}
	if !strings.Contains(string(data), "Stopping call stats collection.") {
		t.Error("the log download lacks the end of the call")
	}
}

func checkJSONLines(t *testing.T, stderr string) {
	t.Helper()
	if strings.ContainsAny(stderr, "\r\x1b") {
		t.Errorf("stderr is not a terminal but holds control characters: %q", stderr)
	}
	for i, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["msg"] == nil || m["level"] == nil {
			t.Fatalf("stderr line %d is not a JSON log line: %v %q", i+1, err, line)
		}
	}
}

// Errors too are JSON lines with --log-format json, and --quiet leaves only
// them on stderr.
func TestQuietAndJSONErrors(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	store := filepath.Join(t.TempDir(), "s.db")
	stdout, stderr, code := run(t, 20*time.Second, "--quiet", "--log-format", "json", "call", "nobody@example.com", "--from", "b",
		"--server", url, "--store", store, "--ice-loopback", "--audio", "tone")
	if code != 4 {
		t.Fatalf("exit %d, want 4; stderr %s", code, stderr)
	}
	if strings.TrimSpace(stdout) == "" || strings.Contains(stdout, "{") {
		t.Errorf("stdout should hold the call id only: %q", stdout)
	}
	checkJSONLines(t, stderr)
	if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 || !strings.Contains(stderr, `"exitCode":4`) {
		t.Errorf("--quiet stderr should be the one error line:\n%s", stderr)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	stdout, _, code := run(t, 10*time.Second, "--version")
	re := regexp.MustCompile(`^callstat \S+ \(commit \S+, go1\.\S+, pion/webrtc v4\.\S+, mediadevices v\S+\)\n$`)
	if code != 0 || !re.MatchString(stdout) {
		t.Errorf("--version printed %q (exit %d)", stdout, code)
	}
}

// ptyOutput runs callstat with stderr on a pseudo-terminal and returns what
// the terminal received.
func ptyOutput(t *testing.T, timeout time.Duration, args ...string) (stdout, terminal string, code int) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 200}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "TERM=xterm")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = tty.Close() // the child holds it; EOF when it exits
	var term bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(&term, bufio.NewReader(ptmx)) // ends with EIO when the child exits
	}()
	err = cmd.Wait()
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("callstat %v timed out; terminal:\n%s", args, term.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), term.String(), code
}

// On a terminal a status line shows the call live, redrawn in place; with
// --no-progress, or when stderr is piped (TestEventsLogsAndDownload), there
// is none.
func TestStatusLineOnATerminal(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"))
	args := []string{"call", "alice@example.com", "--from", "bob@example.com", "--server", url,
		"--store", filepath.Join(dir, "bob.db"), "--ice-loopback", "--audio", "tone", "--duration", "3s", "--interval", "250ms"}

	stdout, term, code := ptyOutput(t, 60*time.Second, args...)
	if code != 0 {
		t.Fatalf("exit %d; terminal:\n%s", code, term)
	}
	status := regexp.MustCompile(`\r\x1b\[Kbob@example\.com -> alice@example\.com  Connected  00:0\d  rtt [\d.]+ ms  jitter [\d.]+ ms  loss [\d.]+%  up \d+ kbit/s  down \d+ kbit/s`)
	if !status.MatchString(term) {
		t.Errorf("no status line with the call's figures on the terminal:\n%q", term)
	}
	if !strings.Contains(term, "call state changed") || !strings.Contains(term, "connected, setup") {
		t.Errorf("log lines missing on the terminal:\n%s", term)
	}
	// The call's line goes when it ends: the last thing on the terminal is
	// the final log line, whole, with no status line drawn after it.
	if !regexp.MustCompile(`connected, setup \S+\r?\n$`).MatchString(term) {
		t.Errorf("terminal does not end with the call's summary line:\n%q", term[max(0, len(term)-300):])
	}
	if id := strings.TrimSpace(stdout); !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(id) {
		t.Errorf("stdout = %q, want the call id only", stdout)
	}

	_, term, code = ptyOutput(t, 60*time.Second, append([]string{"--no-progress"}, args...)...)
	if code != 0 || strings.Contains(term, "\x1b[") || strings.Contains(term, "rtt ") {
		t.Errorf("--no-progress: exit %d, terminal still shows a status line:\n%q", code, term)
	}
}
