// Command bench runs callstat's benchmarks and writes docs/BENCHMARKS.md:
// the Go benchmarks (a stats sample, storing samples, a dump, a token, a
// signaling message), the setup time of single calls, load runs between
// one caller process and one answerer process, and the same calls between
// callstat and headless Chromium and between two Chromium pages. `make
// bench` runs it; it needs the callstat binary (-binary) and, for the
// comparison, Debian's chromium.
//
// The figures are measurements of this machine at this moment: they go in
// a document, never in a test.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	binary       string
	out          string
	calls        []int
	ramp         int
	duration     time.Duration
	profileAt    int
	setupRuns    int
	browserCalls int
	settle       time.Duration
	window       time.Duration
	skipGo       bool
	skipBrowser  bool
	fleetCalls   int
	fleetOnly    bool
}

func main() {
	var o options
	var calls string
	flag.StringVar(&o.binary, "binary", "bin/callstat", "the callstat binary to measure")
	flag.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "the report to write")
	flag.StringVar(&calls, "calls", "100,200,250,500", "load runs: calls each, comma-separated")
	flag.IntVar(&o.ramp, "ramp", 50, "load runs: calls placed a second")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "load runs: how long each call lasts")
	flag.IntVar(&o.profileAt, "profile", 500, "profile the load run with this many calls (0: none)")
	flag.IntVar(&o.setupRuns, "setup-runs", 30, "single calls whose setup is measured")
	flag.IntVar(&o.browserCalls, "browser-calls", 5, "calls in each Chromium comparison")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "comparison: wait after the calls are up, and idle measurement")
	flag.DurationVar(&o.window, "window", 20*time.Second, "comparison: how long the calls are measured")
	flag.BoolVar(&o.skipGo, "skip-go", false, "leave out the Go benchmarks")
	flag.BoolVar(&o.skipBrowser, "skip-browser", false, "leave out the Chromium comparison")
	flag.IntVar(&o.fleetCalls, "fleet-calls", 250, "scale-out comparison: calls of the run made once locally and once over two agents (0: none)")
	flag.BoolVar(&o.fleetOnly, "fleet-only", false, "run only the scale-out comparison and the NATS benchmarks, and replace only their section of -out")
	flag.Parse()
	for _, c := range strings.Split(calls, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: bad -calls %q\n", calls)
			os.Exit(2)
		}
		o.calls = append(o.calls, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// report is everything measured.
type report struct {
	started  time.Time
	machine  string
	commit   string
	version  string
	command  string
	goBench  []goBenchRun
	setup    setupResult
	loads    []loadResult
	cmp      *comparison
	cmpErr   error
	fleet    *fleetResult
	fleetErr error
	finished time.Time
}

type goBenchRun struct {
	bench   goBench
	results []benchResult
	command string
}

func run(ctx context.Context, o options) error {
	bin, err := filepath.Abs(o.binary)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("no callstat binary at %s: run make build", bin)
	}
	dir, err := os.MkdirTemp("", "callstat-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	r := &report{started: time.Now(), machine: machine(), command: "make bench (go run ./tools/bench " + strings.Join(os.Args[1:], " ") + ")"}
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		r.version = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		r.commit = strings.TrimSpace(string(out))
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	}

	if o.fleetOnly {
		return runFleetOnly(ctx, o, r, bin, dir, logf)
	}
	if !o.skipGo {
		for _, b := range goBenches {
			logf("go benchmark %s %s", b.pkg, b.name)
			res, cmd, err := runGoBench(ctx, b)
			if err != nil {
				return err
			}
			r.goBench = append(r.goBench, goBenchRun{bench: b, results: res, command: cmd})
		}
	}

	logf("setup time of %d single calls", o.setupRuns)
	if r.setup, err = measureSetup(ctx, bin, dir, o.setupRuns); err != nil {
		return err
	}

	for _, n := range o.calls {
		logf("load run: %d calls, %s each, ramp %d/s", n, o.duration, o.ramp)
		res, err := runLoad(ctx, bin, dir, n, o.ramp, o.duration, n == o.profileAt)
		if err != nil {
			return fmt.Errorf("load run of %d calls: %w", n, err)
		}
		r.loads = append(r.loads, res)
	}

	if !o.skipBrowser {
		logf("Chromium comparison: %d calls each", o.browserCalls)
		cmp, err := compare(ctx, bin, dir, o.browserCalls, o.settle, o.window)
		if err != nil {
			r.cmpErr = err
			logf("comparison failed: %v", err)
		} else {
			r.cmp = &cmp
		}
	}
	r.runFleet(ctx, o, bin, dir, logf)
	r.finished = time.Now()
	return os.WriteFile(o.out, []byte(r.markdown(o)), 0o644)
}

func (r *report) runFleet(ctx context.Context, o options, bin, dir string, logf func(string, ...any)) {
	if o.fleetCalls <= 0 {
		return
	}
	logf("scale-out comparison: %d calls locally, then over two agents", o.fleetCalls)
	f, err := runFleet(ctx, bin, dir, o.fleetCalls, o.ramp, o.duration)
	if err != nil {
		r.fleetErr = err
		logf("scale-out comparison failed: %v", err)
		return
	}
	r.fleet = &f
}

// runFleetOnly measures the scale-out section alone and writes it into
// the existing report.
func runFleetOnly(ctx context.Context, o options, r *report, bin, dir string, logf func(string, ...any)) error {
	for _, b := range goBenches {
		if !strings.Contains(b.pkg, "natscluster") {
			continue
		}
		logf("go benchmark %s %s", b.pkg, b.name)
		res, cmd, err := runGoBench(ctx, b)
		if err != nil {
			return err
		}
		r.goBench = append(r.goBench, goBenchRun{bench: b, results: res, command: cmd})
	}
	r.runFleet(ctx, o, bin, dir, logf)
	var b strings.Builder
	r.fleetSection(&b)
	fmt.Fprintf(&b, "\nMeasured %s on %s with `go run ./tools/bench -fleet-only -fleet-calls %d -duration %s`; Go benchmarks: ",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), r.machine, o.fleetCalls, o.duration)
	var rows []string
	for _, g := range r.goBench {
		for _, res := range g.results {
			v, _ := res.get("ns/op")
			rows = append(rows, fmt.Sprintf("`%s` %s ns/op", res.name, trimFloat(v)))
		}
	}
	fmt.Fprintf(&b, "%s.\n", strings.Join(rows, ", "))
	return replaceSection(o.out, b.String())
}
