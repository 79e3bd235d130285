package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/callstat/callstat/pkg/stats/report"
)

// Discover lists the agents that answer within wait, by name.
func Discover(ctx context.Context, nc *nats.Conn, wait time.Duration) ([]Hello, error) {
	inbox := nc.NewRespInbox()
	replies := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(DiscoverSubject, inbox, encode(Request{V: Version})); err != nil {
		return nil, err
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var out []Hello
	seen := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			slices.SortFunc(out, func(a, b Hello) int { return strings.Compare(a.Name+a.Agent, b.Name+b.Agent) })
			return out, nil
		case msg := <-replies:
			var h Hello
			if json.Unmarshal(msg.Data, &h) != nil || h.V != Version || h.Agent == "" || seen[h.Agent] {
				continue
			}
			seen[h.Agent] = true
			out = append(out, h)
		}
	}
}

// AgentSummaries are one agent's stored calls.
type AgentSummaries struct {
	Agent Hello
	Rows  []report.CallSummary
	Err   error // it has none, or could not be asked
}

// FetchSummaries asks every agent that answers within wait for the
// summaries of its stored calls (of participant, or all).
func FetchSummaries(ctx context.Context, nc *nats.Conn, wait time.Duration, participant string) ([]AgentSummaries, error) {
	agents, err := Discover(ctx, nc, wait)
	if err != nil {
		return nil, err
	}
	out := make([]AgentSummaries, len(agents))
	for i, h := range agents {
		out[i].Agent = h
		r, err := ask(ctx, nc, h.Agent, Request{Op: OpSummary, Participant: participant})
		out[i].Rows, out[i].Err = r.Summaries, err
	}
	return out, nil
}

// Dumped is a stats file an agent wrote for Dump.
type Dumped struct {
	Name    string // the file name the agent gave it
	Data    []byte
	Damaged int64
}

// FetchDump has an agent write a participant's stats file (format:
// app.FormatSeed or app.FormatInternals) and fetches it in chunks.
func FetchDump(ctx context.Context, nc *nats.Conn, agent Hello, participant, format string) (Dumped, error) {
	var d Dumped
	req := Request{Op: OpDump, Participant: participant, Format: format}
	for {
		r, err := ask(ctx, nc, agent.Agent, req)
		if err != nil {
			return d, err
		}
		if req.Offset != len(d.Data) || (r.Total > 0 && len(r.Data) == 0) {
			return d, fmt.Errorf("agent %s: a dump chunk out of place", agent.Name)
		}
		d.Name, d.Damaged = r.Name, r.Damaged
		d.Data = append(d.Data, r.Data...)
		if len(d.Data) >= r.Total {
			return d, nil
		}
		req.Transfer, req.Offset = r.Transfer, len(d.Data)
	}
}

func ask(ctx context.Context, nc *nats.Conn, agent string, req Request) (Reply, error) {
	req.V = Version
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, AgentSubject+"."+agent, encode(req))
	if err != nil {
		return Reply{}, err
	}
	var r Reply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return Reply{}, fmt.Errorf("agent %s answered %q: %w", agent, clip(msg.Data), err)
	}
	if r.Error != "" {
		return r, (&WireError{Kind: r.ErrorKind, Message: r.Error}).err()
	}
	return r, nil
}
