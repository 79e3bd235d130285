package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// goBench is one Go benchmark run: a package, a benchmark and how long.
type goBench struct {
	pkg, name, benchtime string
	what                 string // what it measures, for the table
}

// goBenches are the Go benchmarks of `make bench`.
var goBenches = []goBench{
	{"./pkg/call", "BenchmarkCollectStats", "20000x", "one stats sample of a connected call (pion's GetStats and the W3C report built from it)"},
	{"./pkg/stats/store", "BenchmarkStoreWrite", "600x", "storing samples: 600 transactions of one sample for each of 100 calls"},
	{"./pkg/stats/store", "BenchmarkDump", "3x", "dump of a full ring: five one-hour calls, the seed's stats file through a 256 KiB buffer to a file"},
	{"./pkg/signaling/token", "BenchmarkToken", "1s", "opening (decrypting and checking) one token"},
	{"./pkg/signaling", "BenchmarkDecode", "1s", "decoding one signaling message"},
	{"./pkg/signaling/natscluster", "BenchmarkRelay", "2000x", "one relayed message, sent and received: through one server (local) or two nodes over NATS"},
	{"./pkg/signaling/natscluster", "BenchmarkCallSetup", "1000x", "a call's signaling (call to answer, and the hang-up): one server (local) or caller and callee on two nodes over NATS"},
}

// benchResult is one line of `go test -bench` output.
type benchResult struct {
	name    string
	n       int
	metrics []metric // in the order printed
}

type metric struct {
	value float64
	unit  string
}

func (r benchResult) get(unit string) (float64, bool) {
	for _, m := range r.metrics {
		if m.unit == unit {
			return m.value, true
		}
	}
	return 0, false
}

// runGoBench runs one benchmark and parses its result lines.
func runGoBench(ctx context.Context, b goBench) ([]benchResult, string, error) {
	args := []string{"test", "-run", "^$", "-bench", "^" + b.name + "$", "-benchmem", "-benchtime", b.benchtime, "-count", "1", b.pkg}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	var results []benchResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if r, ok := parseBenchLine(sc.Text()); ok {
			results = append(results, r)
		}
	}
	return results, "go " + strings.Join(args, " "), nil
}

// parseBenchLine reads "BenchmarkX-2  1000  123 ns/op  4 B/op ...".
func parseBenchLine(line string) (benchResult, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return benchResult{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return benchResult{}, false
	}
	r := benchResult{name: f[0], n: n}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return benchResult{}, false
		}
		r.metrics = append(r.metrics, metric{value: v, unit: f[i+1]})
	}
	return r, true
}
