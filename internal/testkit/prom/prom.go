// Package prom reads metrics back as Prometheus does, for tests: Lint
// runs Debian's promtool over an exposition (names, units, help, types),
// and Start runs a real Prometheus server (Debian's prometheus package)
// that scrapes a target, with its configuration and storage in the test's
// temporary directory, on a loopback port chosen here, queried through
// its HTTP API. Tests fail, never skip, when the tools are missing: `make
// test-deps` installs the prometheus package.
package prom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// need finds a tool or fails the test.
func need(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (`make test-deps` installs the Debian package prometheus): %v", name, err)
	}
	return p
}

// Lint runs `promtool check metrics` over an exposition in Prometheus'
// text format and fails the test with what promtool says is wrong.
func Lint(t testing.TB, exposition []byte) {
	t.Helper()
	cmd := exec.Command(need(t, "promtool"), "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// Scrape fetches a /metrics URL in the text format promtool reads.
func Scrape(t testing.TB, metricsURL string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scraping %s: %v", metricsURL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %s %v\n%s", metricsURL, resp.Status, err, body)
	}
	return body
}

// FreePort returns a loopback address with a port free at the time of
// the call, for a process that must be told its address in advance.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func quoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// Server is a Prometheus server run for a test.
type Server struct {
	t    testing.TB
	base string // http://127.0.0.1:port
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

// Start runs Prometheus scraping the targets (host:port, path /metrics)
// every second as job "callstat", and waits until it is ready. Cleanup
// stops it and, if the test failed, shows its log.
func Start(t testing.TB, targets ...string) *Server {
	t.Helper()
	bin := need(t, "prometheus")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: callstat
    static_configs:
      - targets: [%s]
`, quoted(targets))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := FreePort(t)
	s := &Server{t: t, base: "http://" + addr, done: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.console.templates="+filepath.Join(dir, "consoles"),
		"--web.console.libraries="+filepath.Join(dir, "console_libraries"),
		"--log.level=warn",
	)
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("--- prometheus log:\n%s", s.log.String())
		}
	})
	s.WaitFor(60*time.Second, "prometheus to be ready", func() (bool, error) {
		status, _, err := s.get("/-/ready", nil)
		return err == nil && status == http.StatusOK, nil
	})
	return s
}

// get fetches path with the query q and returns the status and body.
func (s *Server) get(path string, q url.Values) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := s.base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// Sample is one series of an instant query's result.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query runs an instant PromQL query through the HTTP API.
func (s *Server) Query(query string) ([]Sample, error) {
	_, data, err := s.get("/api/v1/query", url.Values{"query": {query}})
	if err != nil {
		return nil, err
	}
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", query, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: result type %s, want vector", query, body.Data.ResultType)
	}
	var out []Sample
	for _, r := range body.Data.Result {
		str, _ := r.Value[1].(string)
		var v float64
		if _, err := fmt.Sscan(str, &v); err != nil && !strings.EqualFold(str, "NaN") {
			return nil, fmt.Errorf("query %s: value %q: %w", query, str, err)
		}
		out = append(out, Sample{Labels: r.Metric, Value: v})
	}
	return out, nil
}

// WaitFor polls cond every 250 ms until it holds, fails or timeout
// passes (which fails the test, naming what).
func (s *Server) WaitFor(timeout time.Duration, what string, cond func() (bool, error)) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := cond()
		if err != nil {
			last = err
		}
		if ok {
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("prometheus exited while waiting for %s:\n%s", what, s.log.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waiting for %s: not within %s (last error: %v)", what, timeout, errors.Join(last))
		}
	}
}
