package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// fleetResult is the scale-out comparison: one load run from one process,
// and the same run spread over two agents by a coordinator.
type fleetResult struct {
	calls    int
	ramp     int
	duration time.Duration
	local    loadResult
	spread   loadResult
	natsVer  string
	loadAvg  string // the machine's load average before the runs
}

// runFleet makes both runs against one server and answerer, with an
// embedded NATS server for the agents.
func runFleet(ctx context.Context, binary, dir string, calls, ramp int, duration time.Duration) (fleetResult, error) {
	res := fleetResult{calls: calls, ramp: ramp, duration: duration}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		return res, err
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		return res, fmt.Errorf("embedded NATS not ready")
	}
	res.natsVer = natsserver.VERSION
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.loadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	natsURL := ns.ClientURL()
	srv, err := startServer(ctx, binary)
	if err != nil {
		return res, err
	}
	defer srv.p.stop()
	ans, err := start(ctx, binary, "answer", nil, "answer", "--as", "alice@example.com", "--server", srv.url,
		"--store", filepath.Join(dir, "fleet-alice.db"), "--audio", "tone", "--ice-loopback", "--decode=false")
	if err != nil {
		return res, err
	}
	defer ans.stop()
	if _, err := ans.waitLog(10*time.Second, "registered"); err != nil {
		return res, err
	}
	n := strconv.Itoa(calls)
	args := []string{"call", "alice@example.com", "--from", "bob@example.com", "--server", srv.url,
		"--audio", "tone:880", "--ice-loopback", "--calls", n, "--concurrency", n, "--ramp", strconv.Itoa(ramp),
		"--duration", duration.String()}
	wait := duration + time.Duration(calls/max(ramp, 1))*time.Second + 2*time.Minute

	local := slices.Concat(args, []string{"--store", filepath.Join(dir, "fleet-local.db")})
	if res.local, err = runCaller(ctx, binary, "local run", local, wait); err != nil {
		return res, err
	}
	for i := 1; i <= 2; i++ {
		name := "bench-" + strconv.Itoa(i)
		ag, err := start(ctx, binary, "agent "+name, nil, "agent", "--nats", natsURL, "--name", name, "--capacity", "1",
			"--store", filepath.Join(dir, "fleet-"+name+".db"))
		if err != nil {
			return res, err
		}
		defer ag.stop()
		if _, err := ag.waitLog(10*time.Second, "load agent ready"); err != nil {
			return res, err
		}
	}
	spread := slices.Concat(args, []string{"--store", filepath.Join(dir, "fleet-coord.db"), "--agents", "2", "--nats", natsURL})
	if res.spread, err = runCaller(ctx, binary, "coordinator", spread, wait); err != nil {
		return res, err
	}
	return res, nil
}

// runCaller runs a load run to its end and reads its summaries.
func runCaller(ctx context.Context, binary, name string, args []string, wait time.Duration) (loadResult, error) {
	l := loadResult{command: "callstat " + strings.Join(args, " ")}
	if i := slices.Index(args, "--calls"); i >= 0 && i+1 < len(args) {
		l.calls, _ = strconv.Atoi(args[i+1])
	}
	p, err := start(ctx, binary, name, nil, args...)
	if err != nil {
		return l, err
	}
	if err := p.wait(wait); err != nil {
		return l, err
	}
	l.exitCode = p.exitCode()
	line, err := p.waitLog(time.Second, "load summary")
	if err != nil {
		return l, err
	}
	l.summary, _ = line["summary"].(map[string]any)
	for _, m := range p.Lines() {
		if m["msg"] == "agent summary" {
			l.agentLines = append(l.agentLines, m)
		}
	}
	return l, nil
}

// fleetSection renders the comparison and the NATS path's cost.
func (r *report) fleetSection(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\n## Scale-out: one run over two agents, and the NATS path\n\n")
	if f := r.fleet; f != nil {
		w("The same load run twice against one `callstat serve` and one `callstat answer --decode=false`: placed by one\n")
		w("`callstat call` process, then spread by a coordinator (`callstat call ... --agents 2 --nats URL`) over two\n")
		w("`callstat agent` processes on this machine (NATS %s embedded in the bench runner; `--capacity 1` each,\n", f.natsVer)
		w("so an even split). The summary of the spread run is the merge of the agents' calls (`load.Merge`: percentiles\n")
		w("over every call). Both runs share this machine's cores: the comparison checks that spreading a run changes\n")
		w("none of its figures, not that two hosts carry more than one.")
		if f.loadAvg != "" {
			w(" Load average before the runs: %s (other work shares the machine).", f.loadAvg)
		}
		w("\n\n")
		w("| Run | Connected | Setup p50 / p95 / p99 | Sent (real time) | Received (real time) | Loss | Jitter p50 / p95 | RTT p50 / p95 | MOS min / mean |\n")
		w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, row := range []struct {
			name string
			l    loadResult
		}{{fmt.Sprintf("%d calls, one process", f.calls), f.local}, {fmt.Sprintf("%d calls, two agents", f.calls), f.spread}} {
			l := row.l
			w("| %s | %.0f of %.0f (exit %d) | %s / %s / %s ms | %s %% | %s %% | %s %% | %s / %s ms | %s / %s ms | %s / %s |\n",
				row.name, l.num("connected"), l.num("placed"), l.exitCode,
				f1(l, "setupP50Ms"), f1(l, "setupP95Ms"), f1(l, "setupP99Ms"), f2(l, "sentPercent"), f2(l, "receivedPercent"), f3(l, "lossPercent"),
				f1(l, "jitterP50Ms"), f1(l, "jitterP95Ms"), f1(l, "rttP50Ms"), f1(l, "rttP95Ms"), f2(l, "mosMin"), f2(l, "mosMean"))
		}
		for _, a := range f.spread.agentLines {
			s, _ := a["summary"].(map[string]any)
			sh, _ := a["share"].(map[string]any)
			w("| · agent %v | %v of %v calls | setup p95 %v ms | | | | | | MOS min %v |\n", a["agent"], s["connected"], sh["calls"],
				fmtNum(s["setupP95Ms"], "%.1f"), fmtNum(s["mosMin"], "%.2f"))
		}
		w("\nCommands: `%s`; the same with `--agents 2 --nats URL`.\n", f.local.command)
	} else if r.fleetErr != nil {
		w("The comparison failed: %v.\n", r.fleetErr)
	}
	added := func(local, nats string) (float64, float64, bool) {
		l, ok1 := r.goResult(local)
		n, ok2 := r.goResult(nats)
		lv, ok3 := l.get("ns/op")
		nv, ok4 := n.get("ns/op")
		return lv / 1000, nv / 1000, ok1 && ok2 && ok3 && ok4
	}
	if l, n, ok := added("BenchmarkRelay/local", "BenchmarkRelay/nats"); ok {
		w("\n**The NATS path's cost** (Go benchmarks `BenchmarkRelay` and `BenchmarkCallSetup` of `pkg/signaling/natscluster`,\n")
		w("loopback, NATS in the benchmark's process): a relayed message\n")
		w("takes %.0f µs from one client to the other through one server, %.0f µs through two nodes and NATS: **%.0f µs\n", l, n, n-l)
		if sl, sn, ok := added("BenchmarkCallSetup/local", "BenchmarkCallSetup/nats"); ok {
			w("added per signaling message**. A call's signaling (call, trying, incoming, ringing, answer, and the hang-up)\n")
			w("takes %.0f µs on one server, %.0f µs across two nodes: **%.0f µs added per call setup**, against a setup of\n", sl, sn, sn-sl)
			w("several milliseconds for the media (ICE, DTLS) in the table of single calls above.\n")
		} else {
			w("added per signaling message**.\n")
		}
	}
}

func fmtNum(v any, format string) string {
	if f, ok := v.(float64); ok {
		return fmt.Sprintf(format, f)
	}
	return "–"
}

// replaceSection writes section (a "## " heading and its text) into the
// file at path in place of the section with the same heading, or before
// "## Notes": a bench run of one section leaves the others as they are.
func replaceSection(path, section string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(data)
	heading, _, _ := strings.Cut(strings.TrimLeft(section, "\n"), "\n")
	if i := strings.Index(doc, heading+"\n"); i >= 0 {
		end := len(doc)
		if j := strings.Index(doc[i+len(heading):], "\n## "); j >= 0 {
			end = i + len(heading) + j + 1
		}
		doc = doc[:i] + strings.TrimLeft(section, "\n") + "\n" + doc[end:]
	} else if i := strings.Index(doc, "\n## Notes\n"); i >= 0 {
		doc = doc[:i] + section + doc[i:]
	} else {
		doc += section
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
