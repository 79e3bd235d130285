package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the store's driver, to count its samples

	statsreport "github.com/callstat/callstat/pkg/stats/report"
)

// setupResult is the single-call setup figure: a new `callstat call`
// process each time, against a running answerer.
type setupResult struct {
	runs           int
	withStartP50Ms float64 // from the process's start to Connected
	withStartP95Ms float64
	setupP50Ms     float64 // from call:start (the call placed) to Connected
	setupP95Ms     float64
	processStartMs float64 // the difference, p50
	failures       int
	command        string
}

// measureSetup runs n single calls, one after the other.
func measureSetup(ctx context.Context, binary, dir string, n int) (setupResult, error) {
	srv, err := startServer(ctx, binary)
	if err != nil {
		return setupResult{}, err
	}
	defer srv.p.stop()
	ans, err := start(ctx, binary, "answer", nil, "answer", "--as", "alice@example.com", "--server", srv.url,
		"--store", filepath.Join(dir, "setup-alice.db"), "--audio", "tone", "--ice-loopback")
	if err != nil {
		return setupResult{}, err
	}
	defer ans.stop()
	if _, err := ans.waitLog(10*time.Second, "registered"); err != nil {
		return setupResult{}, err
	}
	args := []string{"--log-level", "warn", "call", "alice@example.com", "--from", "bob@example.com", "--server", srv.url,
		"--store", filepath.Join(dir, "setup-bob.db"), "--audio", "tone", "--ice-loopback", "--duration", "200ms", "--events", "-"}
	res := setupResult{runs: n, command: "callstat " + strings.Join(args, " ")}
	var withStart, setup, startup []float64
	for range n {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cmd := exec.CommandContext(cctx, binary, args...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			cancel()
			return res, err
		}
		begun := time.Now()
		if err := cmd.Start(); err != nil {
			cancel()
			return res, err
		}
		var started, connected float64
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev struct {
				Type      string  `json:"type"`
				Timestamp float64 `json:"timestamp"`
				State     string  `json:"state"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			switch {
			case ev.Type == "call:start":
				started = ev.Timestamp
			case ev.Type == "call:stateChange" && ev.State == "Connected":
				connected = ev.Timestamp
			}
		}
		err = cmd.Wait()
		cancel()
		if err != nil || started == 0 || connected == 0 {
			res.failures++
			continue
		}
		withStart = append(withStart, connected-float64(begun.UnixMicro())/1000)
		setup = append(setup, connected-started)
		startup = append(startup, started-float64(begun.UnixMicro())/1000)
	}
	res.withStartP50Ms, res.withStartP95Ms = pct(withStart, 50), pct(withStart, 95)
	res.setupP50Ms, res.setupP95Ms = pct(setup, 50), pct(setup, 95)
	res.processStartMs = pct(startup, 50)
	return res, nil
}

// pct is statsreport.Percentile, 0 for no values.
func pct(xs []float64, p float64) float64 {
	if v := statsreport.Percentile(xs, p); v != nil {
		return *v
	}
	return 0
}

// loadResult is one load run: calls between a `call` process in load
// mode and an `answer` process.
type loadResult struct {
	calls      int
	duration   time.Duration
	ramp       int
	summary    map[string]any // the caller's "load summary"
	exitCode   int
	callerCPU  float64 // cores, while every call is up
	answerCPU  float64
	callerRSS  int64 // KiB, while every call is up
	answerRSS  int64
	idleRSS    int64 // KiB, the answerer before any call
	samples    int   // stored by the caller (its ring)
	storeBytes int64 // their bodies
	profileTop string
	command    string
	agentLines []map[string]any // a coordinator's "agent summary" lines
}

func (r loadResult) num(key string) float64 {
	v, _ := r.summary[key].(float64)
	return v
}

// has reports whether the summary measured key.
func (r loadResult) has(key string) bool {
	_, ok := r.summary[key].(float64)
	return ok
}

// perCallKiB is a process's memory per call, over the idle answerer's.
func (r loadResult) perCallKiB(rss int64) float64 {
	return float64(rss-r.idleRSS) / float64(r.calls)
}

// runLoad places calls calls at ramp a second, each lasting duration,
// and measures both processes while all of them are up.
func runLoad(ctx context.Context, binary, dir string, calls, ramp int, duration time.Duration, profile bool) (loadResult, error) {
	res := loadResult{calls: calls, duration: duration, ramp: ramp}
	srv, err := startServer(ctx, binary)
	if err != nil {
		return res, err
	}
	defer srv.p.stop()
	tag := strconv.Itoa(calls)
	var ansEnv, callEnv []string
	if profile {
		ansEnv = []string{"CALLSTAT_CPUPROFILE=" + filepath.Join(dir, "answer-"+tag+".prof")}
		callEnv = []string{"CALLSTAT_CPUPROFILE=" + filepath.Join(dir, "call-"+tag+".prof")}
	}
	ans, err := start(ctx, binary, "answer", ansEnv, "answer", "--as", "alice@example.com", "--server", srv.url,
		"--store", filepath.Join(dir, "alice-"+tag+".db"), "--audio", "tone", "--ice-loopback", "--decode=false")
	if err != nil {
		return res, err
	}
	defer ans.stop()
	if _, err := ans.waitLog(10*time.Second, "registered"); err != nil {
		return res, err
	}
	res.idleRSS = measure([]int{ans.pid()}, false).rssKiB
	callArgs := []string{"call", "alice@example.com", "--from", "bob@example.com", "--server", srv.url,
		"--store", filepath.Join(dir, "bob-"+tag+".db"), "--audio", "tone:880", "--ice-loopback",
		"--calls", tag, "--concurrency", tag, "--ramp", strconv.Itoa(ramp), "--duration", duration.String()}
	res.command = "callstat " + strings.Join(callArgs, " ")
	caller, err := start(ctx, binary, "call", callEnv, callArgs...)
	if err != nil {
		return res, err
	}
	// Every call is up from the end of the ramp; measure from a few
	// seconds after it to a few seconds before the first hang-up.
	rampTime := time.Duration(float64(calls)/float64(ramp)*float64(time.Second)) + 5*time.Second
	window := duration - 10*time.Second
	if window < 5*time.Second {
		return res, fmt.Errorf("--duration %s leaves no time to measure after the ramp", duration)
	}
	if err := sleep(ctx, rampTime); err != nil {
		return res, err
	}
	pids := []int{caller.pid(), ans.pid()}
	c0, a0 := measure(pids[:1], false), measure(pids[1:], false)
	if err := sleep(ctx, window); err != nil {
		return res, err
	}
	c1, a1 := measure(pids[:1], false), measure(pids[1:], false)
	res.callerCPU, res.answerCPU = cores(c0, c1), cores(a0, a1)
	res.callerRSS, res.answerRSS = c1.rssKiB, a1.rssKiB
	if err := caller.wait(duration + time.Minute); err != nil {
		return res, err
	}
	res.exitCode = caller.exitCode()
	line, err := caller.waitLog(time.Second, "load summary")
	if err != nil {
		return res, err
	}
	res.summary, _ = line["summary"].(map[string]any)
	ans.stop()
	res.samples, res.storeBytes = storedSamples(filepath.Join(dir, "bob-"+tag+".db"))
	if profile {
		res.profileTop = pprofTop(ctx, binary, filepath.Join(dir, "call-"+tag+".prof"))
	}
	return res, nil
}

// storedSamples counts a store's samples and the bytes of their rows.
func storedSamples(path string) (int, int64) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return 0, 0
	}
	defer func() { _ = db.Close() }()
	var n int
	var b sql.NullInt64
	if err := db.QueryRow(`SELECT COUNT(*), SUM(LENGTH(body)) FROM samples`).Scan(&n, &b); err != nil {
		return 0, 0
	}
	return n, b.Int64
}

// pprofTop is the profile's top entries.
func pprofTop(ctx context.Context, binary, profile string) string {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", binary, profile).Output()
	if err != nil {
		return fmt.Sprintf("(go tool pprof failed: %v)", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var keep []string
	for _, l := range lines {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
