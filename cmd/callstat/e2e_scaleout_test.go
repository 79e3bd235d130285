package main

// Scale-out end to end (docs/scale-out.md): a signaling tier of three
// serve processes on one NATS, and a load run spread over agents, each in
// a network namespace of its own, with the coordinator outside; nodes,
// agents and NATS fail mid-run.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/natstest"
	"github.com/callstat/callstat/internal/testkit/netlab"
)

// freePort picks a port free on host now (a node restarted on it keeps
// its URL, as behind a load balancer).
func freePort(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

// node starts "serve --nats" on addr and waits until it has joined.
func node(t *testing.T, name, addr, natsURL string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"serve", "--listen", addr, "--nats", natsURL, "--node-timeout", "1s"}, extra...)
	p := start(t, name, nil, args...)
	p.waitLog(15*time.Second, "signaling server listening", nil)
	return p
}

func wsURL(addr string) string { return "ws://" + addr + "/ws" }

// The tier: calls between parties on different nodes, 404 at once for an
// unknown callee, one id on two nodes refused, a node killed mid-call
// (the other side ends with 480) and restarted (its answerer registers
// again), NATS restarted.
func TestScaleOutSignaling(t *testing.T) {
	t.Parallel()
	ns := natstest.Start(t, natstest.Options{})
	addrs := []string{freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")}
	n1 := node(t, "node1", addrs[0], ns.URL)
	node(t, "node2", addrs[1], ns.URL)
	node(t, "node3", addrs[2], ns.URL)
	dir := t.TempDir()
	alice := answerer(t, wsURL(addrs[0]), "alice@example.com", filepath.Join(dir, "alice.db"),
		"--decode=false", "--reconnect-delay", "200ms", "--reconnect-attempts", "100")
	caller := func(addr string, extra ...string) []string {
		return append([]string{"--log-format", "json", "call", "--from", "bob@example.com", "--server", wsURL(addr),
			"--store", filepath.Join(dir, "bob.db"), "--ice-loopback", "--audio", "tone"}, extra...)
	}

	// Caller on node2, callee on node1.
	_, stderr, code := run(t, time.Minute, caller(addrs[1], "alice@example.com", "--calls", "3", "--concurrency", "3", "--duration", "1s")...)
	if code != 0 {
		t.Fatalf("calls across nodes: exit %d; stderr:\n%s", code, stderr)
	}
	if s := loadSummary(t, stderr); num(t, s, "connected") != 3 {
		t.Errorf("summary %v, want 3 connected", s)
	}
	// Nobody holds the id: 404 (exit 4) from NATS's "no responders", not
	// a timeout (480, exit 8).
	if _, stderr, code := run(t, 30*time.Second, caller(addrs[2], "nobody@example.com")...); code != 4 || !strings.Contains(stderr, "404") {
		t.Errorf("unknown callee: exit %d, want 4 with 404; stderr:\n%s", code, stderr)
	}
	// The same id on another node: refused while the first lives.
	_, stderr, code = run(t, 30*time.Second, "answer", "--as", "alice@example.com", "--server", wsURL(addrs[2]),
		"--store", filepath.Join(dir, "alice2.db"), "--ice-loopback", "--audio", "tone", "--reconnect-attempts", "0")
	if code == 0 || !strings.Contains(stderr, "already registered") {
		t.Errorf("second alice on node3: exit %d; stderr:\n%s", code, stderr)
	}

	// node1 dies mid-call: the caller on node2 hears 480 within the node
	// timeout (1 s) and a heartbeat.
	call := start(t, "long call", nil, caller(addrs[1], "alice@example.com", "--duration", "60s")[2:]...)
	call.waitLog(20*time.Second, "call state changed", map[string]any{"state": "Connected"})
	n1.signal(syscall.SIGKILL)
	if code := call.wait(15 * time.Second); code != 8 {
		t.Errorf("caller after its callee's node died: exit %d, want 8 (peer lost)", code)
	}
	if !strings.Contains(call.stderrText(), `"statusCode":480`) {
		t.Errorf("no end 480 in the caller's log:\n%s", call.Tail(20))
	}
	// Restarted on its address, the answerer comes back to it.
	node(t, "node1 again", addrs[0], ns.URL)
	alice.waitCount(30*time.Second, "registered", nil, 2)
	if _, stderr, code := run(t, time.Minute, caller(addrs[2], "alice@example.com", "--duration", "500ms")...); code != 0 {
		t.Errorf("call after the node's restart: exit %d; stderr:\n%s", code, stderr)
	}

	// NATS restarts: the nodes reconnect and renew alice's registration.
	ns.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, stderr, code := run(t, time.Minute, caller(addrs[1], "alice@example.com", "--duration", "500ms")...)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no call through after the NATS restart: last exit %d; stderr:\n%s", code, stderr)
		}
	}
}

// agentLines are the "agent summary" lines of a coordinator's stderr.
func agentLines(stderr string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for line := range strings.SplitSeq(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "agent summary" {
			out[fmt.Sprint(m["agent"])] = m
		}
	}
	return out
}

// A load run over three agents, each in a network namespace of its own,
// against a two-node tier, with the coordinator outside: one agent is
// killed mid-run (its calls count as failed, exit 14), NATS restarts
// while the others' calls go on; their calls end normally and are
// fetched back from the agents.
func TestScaleOutAgents(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	ctx := context.Background()
	var hosts []*netlab.Host
	for range 3 {
		h, err := netlab.NewHost(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
		// Registered before any process starts: cleanups run in reverse,
		// so the processes are gone before their namespace.
		t.Cleanup(func() {
			if err := h.Close(); err != nil {
				t.Errorf("removing %s: %v", h.NS, err)
			}
			if netlab.Exists(h.NS) {
				t.Errorf("namespace %s left behind", h.NS)
			}
		})
	}
	gw := hosts[0].Gateway
	ns := natstest.Start(t, natstest.Options{Host: gw})
	nodeA, nodeB := freePort(t, gw), freePort(t, gw)
	node(t, "nodeA", nodeA, ns.URL)
	node(t, "nodeB", nodeB, ns.URL)
	dir := t.TempDir()
	answerer := start(t, "answer alice", nil, "answer", "--as", "alice@example.com", "--server", wsURL(nodeB),
		"--store", filepath.Join(dir, "alice.db"), "--audio", "tone", "--decode=false")
	answerer.waitLog(15*time.Second, "registered", nil)

	agents := make([]*proc, 3)
	for i, h := range hosts {
		name := fmt.Sprintf("a%d", i+1)
		agents[i] = startIn(t, "agent "+name, h.NS, nil, "agent", "--nats", ns.URL, "--name", name, "--capacity", "1",
			"--store", filepath.Join(dir, name+".db"), "--coordinator-timeout", "3s")
		agents[i].waitLog(15*time.Second, "load agent ready", nil)
	}

	coord := start(t, "coordinator", nil, "call", "alice@example.com", "--from", "bob@example.com", "--server", wsURL(nodeA),
		"--store", filepath.Join(dir, "coord.db"), "--audio", "tone", "--interval", "500ms",
		"--calls", "9", "--concurrency", "9", "--duration", "8s",
		"--agents", "3", "--nats", ns.URL, "--agent-timeout", "2s", "--agents-wait", "20s")
	for _, a := range agents {
		a.waitCount(30*time.Second, "call state changed", map[string]any{"state": "Connected"}, 3)
	}
	agents[2].signal(syscall.SIGKILL)
	coord.waitLog(15*time.Second, "agent lost: its calls count as failed", map[string]any{"agent": "a3"})
	ns.Restart()
	code := coord.wait(60 * time.Second)
	stderr := coord.stderrText()
	if code != 14 {
		t.Fatalf("coordinator exit %d, want 14 (an agent lost); stderr tail:\n%s", code, coord.Tail(30))
	}
	s := loadSummary(t, stderr)
	for key, want := range map[string]float64{"calls": 9, "placed": 9, "connected": 6, "failed": 3} {
		if got := num(t, s, key); got != want {
			t.Errorf("summary %s = %v, want %v", key, got, want)
		}
	}
	failures, _ := s["failures"].([]any)
	if len(failures) != 1 || failures[0].(map[string]any)["reason"] != "agent a3 lost" {
		t.Errorf("failures %v, want the 3 calls of a3", s["failures"])
	}
	lines := agentLines(stderr)
	if len(lines) != 3 || lines["a3"]["error"] == nil || lines["a1"]["error"] != nil || lines["a2"]["error"] != nil {
		t.Errorf("agent lines %v", lines)
	}
	if ids := strings.Fields(coord.Stdout()); len(ids) < 6 {
		t.Errorf("%d call ids on stdout, want every call the agents placed", len(ids))
	}

	// Each live agent kept its calls: summary and dump fetch them.
	out, stderr2, code := run(t, time.Minute, "summary", "--nats", ns.URL, "-p", "bob@example.com", "--json")
	var rows []struct {
		Agent string           `json:"agent"`
		Calls []map[string]any `json:"calls"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 2 {
		t.Fatalf("summary --nats: exit %d, %s\n%s", code, out, stderr2)
	}
	for _, r := range rows {
		if len(r.Calls) != 3 {
			t.Errorf("agent %s stores %d calls, want 3", r.Agent, len(r.Calls))
		}
		for _, c := range r.Calls {
			if c["endState"] != "Ended" || c["statusCode"] != 200.0 {
				t.Errorf("agent %s call %v: want ended normally through the NATS restart", r.Agent, c["callId"])
			}
		}
	}
	out, stderr2, code = run(t, time.Minute, "dump", "--nats", ns.URL, "-p", "bob@example.com", "--out", filepath.Join(dir, "dump"))
	paths := strings.Fields(out)
	if code != 0 || len(paths) != 2 {
		t.Fatalf("dump --nats: exit %d, %q\n%s", code, out, stderr2)
	}
	for _, p := range paths {
		var file []json.RawMessage
		data, err := os.ReadFile(p)
		if err != nil || json.Unmarshal(data, &file) != nil || len(file) != 3 {
			t.Errorf("%s: %d calls, %v", p, len(file), err)
		}
	}
}

// What is wrong with NATS is said clearly, with its exit code; TLS and
// credentials to NATS work from the command line.
func TestScaleOutBadInput(t *testing.T) {
	t.Parallel()
	down := "nats://" + freePort(t, "127.0.0.1")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"agent, NATS down", []string{"agent", "--nats", down}, 3, "--connect-timeout"},
		{"serve, NATS down after waiting", []string{"serve", "--listen", "127.0.0.1:0", "--nats", down, "--connect-timeout", "700ms"}, 3, "waited 700ms"},
		{"agents without NATS", []string{"call", "alice", "--from", "bob", "--calls", "2", "--agents", "2"}, 2, "--agents needs --nats"},
		{"agents without a load", []string{"call", "alice", "--from", "bob", "--agents", "2", "--nats", down}, 2, "--calls"},
		{"bad URL", []string{"serve", "--nats", "http://127.0.0.1:4222"}, 2, "nats:// or tls://"},
		{"creds without NATS", []string{"agent", "--nats-creds", "x.creds"}, 2, "--nats is required"},
		{"summary, NATS down", []string{"summary", "--nats", down}, 3, "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, 30*time.Second, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q; stderr:\n%s", code, tt.code, tt.want, stderr)
			}
		})
	}

	secure := natstest.Start(t, natstest.Options{TLS: true, Creds: true})
	n := start(t, "node over TLS", nil, "serve", "--listen", "127.0.0.1:0", "--nats", secure.URL,
		"--nats-ca", secure.CAFile, "--nats-creds", secure.CredsFile)
	n.waitLog(15*time.Second, "joined the signaling cluster", nil)
	a := start(t, "agent over TLS", nil, "agent", "--nats", secure.URL, "--nats-ca", secure.CAFile, "--nats-creds", secure.CredsFile)
	a.waitLog(15*time.Second, "load agent ready", nil)
	if _, stderr, code := run(t, 30*time.Second, "agent", "--nats", secure.URL, "--nats-ca", secure.CAFile); code != 9 || !strings.Contains(stderr, "--nats-creds") {
		t.Errorf("agent without credentials: exit %d, want 9; stderr:\n%s", code, stderr)
	}
	if _, stderr, code := run(t, 30*time.Second, "agent", "--nats", secure.URL, "--nats-creds", secure.CredsFile); code != 9 || !strings.Contains(stderr, "--nats-ca") {
		t.Errorf("agent without the CA: exit %d, want 9; stderr:\n%s", code, stderr)
	}
}
