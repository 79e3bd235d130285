package natscluster_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/internal/testkit/natstest"
	"github.com/callstat/callstat/pkg/natsconn"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/signaling/natscluster"
)

const nodeTimeout = 800 * time.Millisecond

// node is one signaling server of a test tier.
type node struct {
	nc   *nats.Conn
	node *natscluster.Node
	srv  *signaling.Server
	http *httptest.Server
	url  string
}

func startNode(t *testing.T, natsURL string) *node {
	t.Helper()
	return startNodeOf(t, natsURL)
}

// startNodeTB is a node for a benchmark: its client URL.
func startNodeTB(b *testing.B, natsURL string) string {
	b.Helper()
	return startNodeOf(b, natsURL).url
}

func startNodeOf(t testing.TB, natsURL string) *node {
	t.Helper()
	var n *natscluster.Node
	nc, err := natsconn.Connect(context.Background(), natsconn.Options{URL: natsURL, OnReconnect: func() {
		if n != nil {
			n.Reconnected()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	n, err = natscluster.Join(context.Background(), natscluster.Config{Conn: nc, NodeTimeout: nodeTimeout, Lease: 3 * time.Second,
		Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := signaling.NewServer(signaling.ServerConfig{Cluster: n, Software: "callstat/test", MessageRate: -1, MessageBurst: -1})
	hs := httptest.NewServer(srv.Handler())
	nd := &node{nc: nc, node: n, srv: srv, http: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
	t.Cleanup(func() { nd.stop(t) })
	return nd
}

// stop shuts the node down cleanly (a no-op after kill).
func (n *node) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	n.http.Close()
	if !n.nc.IsClosed() {
		_ = n.node.Close()
	}
	n.nc.Close()
}

// kill cuts the node off as a crash would: its NATS connection goes
// without a word (its subscriptions with it, its heartbeats stop).
func (n *node) kill() { n.nc.Close() }

func dial(t *testing.T, url string) *signaling.Client {
	t.Helper()
	c, err := signaling.Dial(context.Background(), signaling.ClientConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func register(t *testing.T, c *signaling.Client, user string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Request(ctx, signaling.Message{Type: signaling.TypeRegister, User: user})
	return err
}

// expect waits for the next message of type typ on c, skipping nothing.
func expect(t *testing.T, c *signaling.Client, typ signaling.Type, within time.Duration) signaling.Message {
	t.Helper()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			t.Fatalf("connection closed waiting for %q: %v", typ, c.Err())
		}
		if m.Type != typ {
			t.Fatalf("got %+v, want %q", m, typ)
		}
		return m
	case <-time.After(within):
		t.Fatalf("no %q within %s", typ, within)
	}
	return signaling.Message{}
}

const sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

func ptr[T any](v T) *T { return &v }

// A call between parties on two nodes goes through every step: offer,
// ringing, answer, candidates both ways in order, hang-up.
func TestCallAcrossNodes(t *testing.T) {
	defer test.TimeOut(30 * time.Second).Stop()
	ns := natstest.Start(t, natstest.Options{})
	a, b, _ := startNode(t, ns.URL), startNode(t, ns.URL), startNode(t, ns.URL)

	alice := dial(t, b.url)
	if err := register(t, alice, "alice"); err != nil {
		t.Fatal(err)
	}
	bob := dial(t, a.url)
	if err := bob.Send(signaling.Message{Type: signaling.TypeCall, CallID: "c1", From: "bob", To: "alice", SDP: sdp}); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, signaling.TypeTrying, 5*time.Second)
	in := expect(t, alice, signaling.TypeIncoming, 5*time.Second)
	if in.From != "bob" || in.To != "alice" || in.SDP != sdp || in.CallID != "c1" {
		t.Errorf("incoming %+v", in)
	}
	_ = alice.Send(signaling.Message{Type: signaling.TypeRinging, CallID: "c1"})
	_ = alice.Send(signaling.Message{Type: signaling.TypeAnswer, CallID: "c1", SDP: sdp})
	for i := range 20 {
		_ = alice.Send(signaling.Message{Type: signaling.TypeCandidate, CallID: "c1", Candidate: &signaling.Candidate{Candidate: "a", SDPMLineIndex: ptr(uint16(i))}})
	}
	expect(t, bob, signaling.TypeRinging, 5*time.Second)
	if m := expect(t, bob, signaling.TypeAnswer, 5*time.Second); m.SDP != sdp {
		t.Errorf("answer %+v", m)
	}
	for i := range 20 {
		if m := expect(t, bob, signaling.TypeCandidate, 5*time.Second); *m.Candidate.SDPMLineIndex != uint16(i) {
			t.Fatalf("candidate %d arrived as %d: out of order", i, *m.Candidate.SDPMLineIndex)
		}
	}
	_ = bob.Send(signaling.Message{Type: signaling.TypeCandidate, CallID: "c1", Candidate: &signaling.Candidate{Candidate: "b"}})
	if m := expect(t, alice, signaling.TypeCandidate, 5*time.Second); m.Candidate.Candidate != "b" {
		t.Errorf("candidate %+v", m)
	}
	// Only the callee answers, on whichever node the caller is.
	_ = bob.Send(signaling.Message{Type: signaling.TypeAnswer, CallID: "c1", SDP: sdp})
	if m := expect(t, bob, signaling.TypeError, 5*time.Second); m.Code != signaling.ErrCodeNotAParty {
		t.Errorf("caller's answer: %+v", m)
	}
	// A new offer (hold, resume) from either party, answered by the other.
	for _, dir := range []struct {
		name     string
		from, to *signaling.Client
	}{{"caller", bob, alice}, {"callee", alice, bob}} {
		offer := sdp + "a=sendonly\r\n"
		_ = dir.from.Send(signaling.Message{Type: signaling.TypeUpdate, CallID: "c1", SDP: offer})
		if m := expect(t, dir.to, signaling.TypeUpdate, 5*time.Second); m.SDP != offer {
			t.Errorf("%s's update arrived as %+v", dir.name, m)
		}
		_ = dir.to.Send(signaling.Message{Type: signaling.TypeAnswer, CallID: "c1", SDP: sdp + "a=recvonly\r\n"})
		if m := expect(t, dir.from, signaling.TypeAnswer, 5*time.Second); m.SDP != sdp+"a=recvonly\r\n" {
			t.Errorf("answer to the %s's update arrived as %+v", dir.name, m)
		}
	}
	_ = bob.Send(signaling.Message{Type: signaling.TypeEnd, CallID: "c1"})
	if m := expect(t, alice, signaling.TypeEnd, 5*time.Second); m.Status != signaling.StatusNormal {
		t.Errorf("end %+v, want 200", m)
	}
	waitFor(t, 5*time.Second, "both halves of the call gone", func() bool {
		return a.srv.Health().Calls == 0 && b.srv.Health().Calls == 0
	})

	// Rejected on the callee's node: the caller hears the status.
	_ = bob.Send(signaling.Message{Type: signaling.TypeCall, CallID: "c2", From: "bob", To: "alice", SDP: sdp})
	expect(t, bob, signaling.TypeTrying, 5*time.Second)
	expect(t, alice, signaling.TypeIncoming, 5*time.Second)
	_ = alice.Send(signaling.Message{Type: signaling.TypeReject, CallID: "c2", Status: signaling.StatusBusy})
	if m := expect(t, bob, signaling.TypeEnd, 5*time.Second); m.Status != signaling.StatusBusy {
		t.Errorf("end %+v, want 486", m)
	}
}

// A callee that no node holds is 404 at once: NATS has no responder for
// its subject. A caller that hangs up before the answer cancels (487).
func TestUnknownCalleeAndCancel(t *testing.T) {
	defer test.TimeOut(30 * time.Second).Stop()
	ns := natstest.Start(t, natstest.Options{})
	a, b := startNode(t, ns.URL), startNode(t, ns.URL)
	bob := dial(t, a.url)
	_ = bob.Send(signaling.Message{Type: signaling.TypeCall, CallID: "c1", From: "bob", To: "nobody", SDP: sdp})
	if m := expect(t, bob, signaling.TypeEnd, 5*time.Second); m.Status != signaling.StatusCalleeNotFound {
		t.Errorf("end %+v, want 404 (no responders), not a timeout", m)
	}

	alice := dial(t, b.url)
	if err := register(t, alice, "alice"); err != nil {
		t.Fatal(err)
	}
	_ = bob.Send(signaling.Message{Type: signaling.TypeCall, CallID: "c2", From: "bob", To: "alice", SDP: sdp})
	expect(t, bob, signaling.TypeTrying, 5*time.Second)
	expect(t, alice, signaling.TypeIncoming, 5*time.Second)
	_ = bob.Send(signaling.Message{Type: signaling.TypeEnd, CallID: "c2"})
	if m := expect(t, alice, signaling.TypeEnd, 5*time.Second); m.Status != signaling.StatusCancelled {
		t.Errorf("end %+v, want 487", m)
	}
	if st := a.node.Stats(); st.Offers != 2 || st.Relayed == 0 {
		t.Errorf("caller's node stats %+v", st)
	}
}

// One id, two nodes: the second registration is refused while the first
// connection lives, as on one server, and succeeds once it has gone.
func TestSameIDOnTwoNodes(t *testing.T) {
	defer test.TimeOut(30 * time.Second).Stop()
	ns := natstest.Start(t, natstest.Options{})
	a, b := startNode(t, ns.URL), startNode(t, ns.URL)
	first := dial(t, a.url)
	if err := register(t, first, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := register(t, first, "alice"); err != nil {
		t.Errorf("registering an id it holds again: %v", err)
	}
	second := dial(t, b.url)
	var se *signaling.ServerError
	if err := register(t, second, "alice"); !errors.As(err, &se) || se.Code != signaling.ErrCodeAlreadyRegistered {
		t.Fatalf("second registration: %v, want already_registered", err)
	}
	_ = first.Close()
	waitFor(t, 5*time.Second, "the id free for the second connection", func() bool { return register(t, second, "alice") == nil })
	// Calls to it now reach the second connection, from either node.
	bob := dial(t, a.url)
	_ = bob.Send(signaling.Message{Type: signaling.TypeCall, CallID: "c1", From: "bob", To: "alice", SDP: sdp})
	expect(t, bob, signaling.TypeTrying, 5*time.Second)
	expect(t, second, signaling.TypeIncoming, 5*time.Second)
}

// A node that dies ends its parties' calls for the other side with 480
// within the node timeout, and its ids can be taken at once on another
// node (its subscription went with it).
func TestNodeGone(t *testing.T) {
	defer test.TimeOut(30 * time.Second).Stop()
	ns := natstest.Start(t, natstest.Options{})
	a, b, c := startNode(t, ns.URL), startNode(t, ns.URL), startNode(t, ns.URL)
	alice := dial(t, b.url)
	if err := register(t, alice, "alice"); err != nil {
		t.Fatal(err)
	}
	bob := dial(t, a.url)
	_ = bob.Send(signaling.Message{Type: signaling.TypeCall, CallID: "c1", From: "bob", To: "alice", SDP: sdp})
	expect(t, bob, signaling.TypeTrying, 5*time.Second)
	expect(t, alice, signaling.TypeIncoming, 5*time.Second)
	_ = alice.Send(signaling.Message{Type: signaling.TypeAnswer, CallID: "c1", SDP: sdp})
	expect(t, bob, signaling.TypeAnswer, 5*time.Second)

	b.kill()
	killed := time.Now()
	m := expect(t, bob, signaling.TypeEnd, 4*nodeTimeout)
	if m.Status != signaling.StatusPeerUnavailable {
		t.Errorf("end %+v, want 480", m)
	}
	// The documented bound: the node timeout and a heartbeat interval.
	if d := time.Since(killed); d < nodeTimeout {
		t.Errorf("ended %s after the node died, before the node timeout %s: not by the heartbeats", d, nodeTimeout)
	}
	if a.node.Stats().NodesGone != 1 {
		t.Errorf("stats %+v, want one node gone", a.node.Stats())
	}
	again := dial(t, c.url)
	if err := register(t, again, "alice"); err != nil {
		t.Errorf("registering the dead node's id on another node: %v", err)
	}
}

// A NATS restart loses the registrations bucket (memory storage): the
// nodes renew their registrations when they are back, calls in progress
// keep relaying, and new calls go through.
func TestNATSRestart(t *testing.T) {
	defer test.TimeOut(60 * time.Second).Stop()
	ns := natstest.Start(t, natstest.Options{})
	a, b := startNode(t, ns.URL), startNode(t, ns.URL)
	alice := dial(t, b.url)
	if err := register(t, alice, "alice"); err != nil {
		t.Fatal(err)
	}
	bob := dial(t, a.url)
	_ = bob.Send(signaling.Message{Type: signaling.TypeCall, CallID: "c1", From: "bob", To: "alice", SDP: sdp})
	expect(t, bob, signaling.TypeTrying, 5*time.Second)
	expect(t, alice, signaling.TypeIncoming, 5*time.Second)
	_ = alice.Send(signaling.Message{Type: signaling.TypeAnswer, CallID: "c1", SDP: sdp})
	expect(t, bob, signaling.TypeAnswer, 5*time.Second)

	ns.Shutdown()
	waitFor(t, 5*time.Second, "the nodes to see NATS gone", func() bool { return a.nc.Status() != nats.CONNECTED })
	if a.srv.Health().Status != "cluster unreachable" {
		t.Errorf("health while NATS is down: %+v", a.srv.Health())
	}
	// Longer than the node timeout: nobody may declare the others gone
	// for a silence that was NATS's.
	time.Sleep(2 * nodeTimeout) //nolint:forbidigo // the outage itself, not a synchronisation
	ns.Restart()
	waitFor(t, 10*time.Second, "both nodes back", func() bool { return a.nc.IsConnected() && b.nc.IsConnected() })
	_ = alice.Send(signaling.Message{Type: signaling.TypeCandidate, CallID: "c1", Candidate: &signaling.Candidate{Candidate: "after"}})
	if m := expect(t, bob, signaling.TypeCandidate, 5*time.Second); m.Candidate.Candidate != "after" {
		t.Errorf("candidate %+v", m)
	}
	// The registration is back in the new NATS: a call from the other
	// node reaches alice, and a second alice elsewhere is refused.
	carol := dial(t, a.url)
	waitFor(t, 10*time.Second, "a new call across nodes", func() bool {
		id := "c" + time.Now().Format("150405.000000")
		_ = carol.Send(signaling.Message{Type: signaling.TypeCall, CallID: id, From: "carol", To: "alice", SDP: sdp})
		m := <-carol.Messages()
		return m.Type == signaling.TypeTrying
	})
	expect(t, alice, signaling.TypeIncoming, 5*time.Second)
	var se *signaling.ServerError
	if err := register(t, dial(t, a.url), "alice"); !errors.As(err, &se) || se.Code != signaling.ErrCodeAlreadyRegistered {
		t.Errorf("second alice after the restart: %v, want already_registered", err)
	}
	if a.srv.Health().Calls != 2 {
		t.Errorf("calls on the caller's node: %+v, want 2 (none ended by the outage)", a.srv.Health())
	}
}

// Messages on the tier's subjects that do not parse, or are not for a
// call the node carries, are counted and dropped; the node goes on.
func TestIgnoredMessages(t *testing.T) {
	defer test.TimeOut(30 * time.Second).Stop()
	ns := natstest.Start(t, natstest.Options{})
	a := startNode(t, ns.URL)
	alice := dial(t, a.url)
	if err := register(t, alice, "alice"); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	node := natscluster.NodeSubject + "." + a.node.ID()
	_ = nc.Publish(node, []byte("not json"))
	_ = nc.Publish(node, []byte(`{"v":1,"type":"candidate","callId":"x","candidate":{"candidate":""}}`)) // no sender node
	msg := nats.NewMsg(node)
	msg.Header.Set(natscluster.HeaderNode, "elsewhere")
	msg.Data = []byte(`{"v":1,"type":"end","callId":"unknown"}`)
	_ = nc.PublishMsg(msg) // not a call it carries: dropped quietly
	_ = nc.Publish(natscluster.HeartbeatSubject+".x", []byte(`{"v":2}`))
	resp, err := nc.Request(natscluster.UserSubject+"."+natscluster.Key("alice"), []byte("{"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := signaling.Decode(resp.Data); err != nil || m.Code != signaling.ErrCodeBadMessage {
		t.Errorf("answer to a bad offer: %s", resp.Data)
	}
	waitFor(t, 5*time.Second, "four messages ignored", func() bool { return a.node.Stats().Ignored == 4 })
	// Still serving.
	bob := dial(t, a.url)
	_ = bob.Send(signaling.Message{Type: signaling.TypeCall, CallID: "c1", From: "bob", To: "alice", SDP: sdp})
	expect(t, bob, signaling.TypeTrying, 5*time.Second)
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("NC_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
