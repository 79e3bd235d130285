package natscluster_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/natstest"
	"github.com/callstat/callstat/pkg/signaling"
)

// benchPair is a caller and a callee with a call between them: on one
// server alone ("local"), or on two nodes of a tier over NATS ("nats").
type benchPair struct {
	caller, callee *signaling.Client
}

func newBenchPair(b *testing.B, clustered bool) *benchPair {
	b.Helper()
	var callerURL, calleeURL string
	if clustered {
		ns := natstest.Start(b, natstest.Options{})
		a, c := startNodeTB(b, ns.URL), startNodeTB(b, ns.URL)
		callerURL, calleeURL = a, c
	} else {
		srv := signaling.NewServer(signaling.ServerConfig{MessageRate: -1, MessageBurst: -1})
		hs := httptest.NewServer(srv.Handler())
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
			hs.Close()
		})
		callerURL = "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
		calleeURL = callerURL
	}
	p := &benchPair{caller: dialTB(b, callerURL), callee: dialTB(b, calleeURL)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.callee.Request(ctx, signaling.Message{Type: signaling.TypeRegister, User: "alice"}); err != nil {
		b.Fatal(err)
	}
	return p
}

func dialTB(b *testing.B, url string) *signaling.Client {
	b.Helper()
	c, err := signaling.Dial(context.Background(), signaling.ClientConfig{URL: url})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

func next(b *testing.B, c *signaling.Client, typ signaling.Type) signaling.Message {
	select {
	case m := <-c.Messages():
		if m.Type != typ {
			b.Fatalf("got %+v, want %q", m, typ)
		}
		return m
	case <-time.After(10 * time.Second):
		b.Fatalf("no %q", typ)
	}
	return signaling.Message{}
}

// setup places a call and has it answered: the signaling of a call setup
// (call, trying, incoming, ringing, answer).
func (p *benchPair) setup(b *testing.B, id string) {
	_ = p.caller.Send(signaling.Message{Type: signaling.TypeCall, CallID: id, From: "bob", To: "alice", SDP: sdp})
	next(b, p.caller, signaling.TypeTrying)
	next(b, p.callee, signaling.TypeIncoming)
	_ = p.callee.Send(signaling.Message{Type: signaling.TypeRinging, CallID: id})
	_ = p.callee.Send(signaling.Message{Type: signaling.TypeAnswer, CallID: id, SDP: sdp})
	next(b, p.caller, signaling.TypeRinging)
	next(b, p.caller, signaling.TypeAnswer)
}

func (p *benchPair) hangUp(b *testing.B, id string) {
	_ = p.caller.Send(signaling.Message{Type: signaling.TypeEnd, CallID: id})
	next(b, p.callee, signaling.TypeEnd)
}

// BenchmarkRelay is one relayed message (a candidate) from the callee to
// the caller, sent and received: the latency of a message through one
// server, or through two nodes and NATS.
func BenchmarkRelay(b *testing.B) {
	for _, mode := range []string{"local", "nats"} {
		b.Run(mode, func(b *testing.B) {
			p := newBenchPair(b, mode == "nats")
			p.setup(b, "c")
			cand := signaling.Message{Type: signaling.TypeCandidate, CallID: "c",
				Candidate: &signaling.Candidate{Candidate: "candidate:1467250027 1 udp 2122260223 192.168.1.20 46243 typ host generation 0"}}
			b.ResetTimer()
			for b.Loop() {
				_ = p.callee.Send(cand)
				next(b, p.caller, signaling.TypeCandidate)
			}
			b.StopTimer()
			p.hangUp(b, "c")
		})
	}
}

// BenchmarkCallSetup is the signaling of one call from "call" to the
// answer at the caller, and its hang-up: through one server, or with the
// caller and the callee on two nodes over NATS.
func BenchmarkCallSetup(b *testing.B) {
	for _, mode := range []string{"local", "nats"} {
		b.Run(mode, func(b *testing.B) {
			p := newBenchPair(b, mode == "nats")
			i := 0
			for b.Loop() {
				id := strconv.Itoa(i)
				i++
				p.setup(b, id)
				p.hangUp(b, id)
			}
		})
	}
}
