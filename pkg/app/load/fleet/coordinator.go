package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/callstat/callstat/pkg/app/load"
	"github.com/callstat/callstat/pkg/stats/report"
)

// Defaults of a coordinator.
const (
	DefaultDiscoverTimeout = 10 * time.Second
	requestTimeout         = 5 * time.Second
	discoverEvery          = 500 * time.Millisecond
)

// CoordinatorConfig is a distributed run: callstat call --agents K.
type CoordinatorConfig struct {
	Conn    *nats.Conn
	Logger  *slog.Logger
	Version string // callstat's: agents of another version are refused
	// Agents is how many agents to enlist; DiscoverTimeout how long to
	// wait for them.
	Agents          int
	DiscoverTimeout time.Duration
	// Timeout: an agent silent this long is lost (DefaultTimeout).
	Timeout time.Duration
	// Spec is the whole run; each agent gets its share of it.
	Spec Spec
	// Progress, if set, is told about every call of every agent.
	Progress load.Progress
	// Enlisted, if set, is told the split before the start.
	Enlisted func(run string, shares []Share)
}

// AgentOutcome is how one agent's share went.
type AgentOutcome struct {
	Share
	Result *load.Result // its calls (for a lost agent: all counted failed)
	Err    error        // why it was lost, or its run's error
}

// Outcome is a distributed run.
type Outcome struct {
	Run    string
	Result *load.Result // every agent's merged
	Agents []AgentOutcome
	// Ignored counts messages on the run's subject that did not parse or
	// did not come from its agents.
	Ignored int64
}

// Lost is the error of the agents that were lost, nil if none was.
func (o *Outcome) Lost() error {
	var errs []error
	for _, a := range o.Agents {
		if errors.Is(a.Err, ErrAgentLost) {
			errs = append(errs, a.Err)
		}
	}
	return errors.Join(errs...)
}

// coordinator is one run in progress.
type coordinator struct {
	cfg     CoordinatorConfig
	nc      *nats.Conn
	log     *slog.Logger
	run     string
	ignored atomic.Int64
}

// Coordinate enlists cfg.Agents agents, splits the run over them by their
// capacity, starts them together and waits until each has finished or
// is lost. Cancelling ctx stops the agents' calls; the run is still
// reported. The error is why the run could not start (no Outcome).
func Coordinate(ctx context.Context, cfg CoordinatorConfig) (*Outcome, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DiscoverTimeout <= 0 {
		cfg.DiscoverTimeout = DefaultDiscoverTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Agents < 1 {
		return nil, fmt.Errorf("%w: want at least one", ErrAgents)
	}
	c := &coordinator{cfg: cfg, nc: cfg.Conn, run: strings.ReplaceAll(uuid.NewString(), "-", "")[:16]}
	c.log = cfg.Logger.With("run", c.run)
	agents, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	shares := Shares(agents, cfg.Spec.Calls, cfg.Spec.Concurrency, cfg.Spec.RampPerSec)
	if cfg.Enlisted != nil {
		cfg.Enlisted(c.run, shares)
	}
	return c.execute(ctx, shares)
}

// discover asks for agents until enough idle ones of this version have
// answered.
func (c *coordinator) discover(ctx context.Context) ([]Hello, error) {
	inbox := c.nc.NewRespInbox()
	replies := make(chan *nats.Msg, 256)
	sub, err := c.nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	req := encode(Request{V: Version, Run: c.run, Version: c.cfg.Version})
	deadline := time.NewTimer(c.cfg.DiscoverTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(discoverEvery)
	defer tick.Stop()
	var ok []Hello
	seen := map[string]bool{}
	refused := map[string]string{}
	busy := map[string]bool{}
	for {
		if err := c.nc.PublishRequest(DiscoverSubject, inbox, req); err != nil {
			return nil, err
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: looking for agents: %w", ErrAgents, ctx.Err())
			case <-deadline.C:
				return nil, c.tooFew(ok, refused, busy)
			case <-tick.C:
				break wait
			case msg := <-replies:
				var h Hello
				if json.Unmarshal(msg.Data, &h) != nil || h.V != Version || h.Agent == "" {
					c.ignored.Add(1)
					continue
				}
				if seen[h.Agent] {
					continue
				}
				switch {
				case h.Version != c.cfg.Version:
					seen[h.Agent] = true
					why := fmt.Sprintf("agent %s runs callstat %s, this coordinator callstat %s: run the same version on every host",
						h.Name, h.Version, c.cfg.Version)
					refused[h.Name] = why
					c.log.Warn("agent refused", "agent", h.Name, "agentVersion", h.Version, "version", c.cfg.Version)
					_ = c.nc.Publish(AgentSubject+"."+h.Agent, encode(Request{V: Version, Op: OpRefuse, Run: c.run, Message: why}))
				case h.Busy:
					busy[h.Name] = true
				default:
					seen[h.Agent] = true
					ok = append(ok, h)
					c.log.Info("agent found", "agent", h.Name, "cpus", h.CPUs, "idle", h.Idle, "capacity", h.Capacity)
					if len(ok) >= c.cfg.Agents {
						return ok[:c.cfg.Agents], nil
					}
				}
			}
		}
	}
}

func (c *coordinator) tooFew(ok []Hello, refused map[string]string, busy map[string]bool) error {
	parts := []string{fmt.Sprintf("found %d of %d within %s", len(ok), c.cfg.Agents, c.cfg.DiscoverTimeout)}
	for _, why := range refused {
		parts = append(parts, "refused: "+why)
	}
	for name := range busy {
		parts = append(parts, "busy with another run: "+name)
	}
	parts = append(parts, "start 'callstat agent --nats URL' on each load host, or lower --agents")
	return fmt.Errorf("%w: %s", ErrAgents, strings.Join(parts, "; "))
}

// agentState is what the coordinator knows of an enlisted agent.
type agentState struct {
	share    Share
	lastSeen time.Time
	done     bool
	runErr   string
	lost     error
	placed   []string // ids, in the order reported
	ended    map[string]bool
}

func (c *coordinator) request(ctx context.Context, agent string, req Request) (Reply, error) {
	req.V, req.Run, req.Version = Version, c.run, c.cfg.Version
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(ctx, AgentSubject+"."+agent, encode(req))
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

func (c *coordinator) execute(ctx context.Context, shares []Share) (*Outcome, error) {
	reports := make(chan *nats.Msg, 1024)
	sub, err := c.nc.ChanSubscribe(RunSubject+"."+c.run, reports)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	states := map[string]*agentState{}
	for _, s := range shares {
		spec := c.cfg.Spec
		spec.Calls, spec.Concurrency, spec.RampPerSec = s.Calls, s.Concurrency, s.RampPerSec
		if _, err := c.request(ctx, s.Agent, Request{Op: OpAssign, Spec: &spec}); err != nil {
			for _, st := range states {
				_, _ = c.request(context.Background(), st.share.Agent, Request{Op: OpStop})
			}
			return nil, fmt.Errorf("%w: agent %s: %w", ErrAgent, s.Name, err)
		}
		states[s.Agent] = &agentState{share: s, lastSeen: time.Now(), ended: map[string]bool{}}
	}

	// The coordinator's heartbeats: agents stop a run whose coordinator
	// is gone.
	beatCtx, stopBeats := context.WithCancel(context.Background())
	var beats sync.WaitGroup
	beats.Add(1)
	go func() {
		defer beats.Done()
		tick := time.NewTicker(ReportInterval)
		defer tick.Stop()
		hb := encode(Request{V: Version, Run: c.run})
		for {
			_ = c.nc.Publish(RunSubject+"."+c.run+".coord", hb)
			select {
			case <-beatCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { stopBeats(); beats.Wait() }()

	if err := c.nc.Publish(RunSubject+"."+c.run+".start", encode(Request{V: Version, Run: c.run})); err != nil {
		return nil, err
	}
	c.log.Info("load run started", "agents", len(shares), "calls", c.cfg.Spec.Calls)
	for _, st := range states {
		st.lastSeen = time.Now()
	}

	check := time.NewTicker(ReportInterval)
	defer check.Stop()
	stopped := false
	pending := len(states)
	for pending > 0 {
		select {
		case <-ctx.Done():
			if !stopped {
				stopped = true
				c.log.Info("stopping the agents")
				for _, st := range states {
					if !st.done && st.lost == nil {
						_ = c.nc.Publish(AgentSubject+"."+st.share.Agent, encode(Request{V: Version, Op: OpStop, Run: c.run}))
					}
				}
			}
			ctx = context.Background() // keep waiting for their reports
		case msg := <-reports:
			if c.take(msg, states) {
				pending--
			}
		case <-check.C:
			if !c.nc.IsConnected() {
				// Cut off from NATS ourselves: nobody's silence counts.
				for _, st := range states {
					st.lastSeen = time.Now()
				}
				continue
			}
			for _, st := range states {
				if st.done || st.lost != nil || time.Since(st.lastSeen) <= c.cfg.Timeout {
					continue
				}
				st.lost = fmt.Errorf("%w: agent %s: no report for %s", ErrAgentLost, st.share.Name, c.cfg.Timeout)
				c.log.Error("agent lost: its calls count as failed", "agent", st.share.Name, "calls", st.share.Calls, "err", st.lost)
				pending--
			}
		}
	}

	out := &Outcome{Run: c.run}
	var results []*load.Result
	for _, s := range shares {
		st := states[s.Agent]
		ao := AgentOutcome{Share: s}
		if st.lost == nil {
			ao.Result, ao.Err = c.fetch(s)
			if ao.Err != nil {
				st.lost = fmt.Errorf("%w: agent %s: its results could not be fetched: %w", ErrAgentLost, s.Name, ao.Err)
			} else if st.runErr != "" {
				ao.Err = fmt.Errorf("agent %s: %s", s.Name, st.runErr)
			}
		}
		if st.lost != nil {
			ao.Err = st.lost
			ao.Result = lostResult(st)
		}
		results = append(results, ao.Result)
		out.Agents = append(out.Agents, ao)
	}
	slices.SortStableFunc(out.Agents, func(a, b AgentOutcome) int { return strings.Compare(a.Name, b.Name) })
	out.Result = load.Merge(results...)
	out.Ignored = c.ignored.Load()
	c.log.Info("load run finished", "agents", len(shares), "calls", len(out.Result.Results), "ignored", out.Ignored)
	return out, nil
}

// take handles an agent's report; it says whether that agent is done.
func (c *coordinator) take(msg *nats.Msg, states map[string]*agentState) bool {
	var r Report
	if json.Unmarshal(msg.Data, &r) != nil || r.V != Version || r.Run != c.run {
		c.ignored.Add(1)
		return false
	}
	st := states[r.Agent]
	if st == nil || st.done || st.lost != nil {
		c.ignored.Add(1)
		return false
	}
	st.lastSeen = time.Now()
	p := c.cfg.Progress
	for _, e := range r.Calls {
		switch e.Kind {
		case EventPlaced:
			st.placed = append(st.placed, e.ID)
			if p != nil {
				p.Placed(e.ID)
			}
		case EventConnected:
			if p != nil {
				p.Connected(e.ID, time.Duration(e.SetupMs*1e6))
			}
		case EventEnded:
			st.ended[e.ID] = true
			if p != nil {
				p.Ended(e.ID, e.Up, e.Failed)
			}
		default:
			c.ignored.Add(1)
		}
	}
	if p != nil {
		// One entry per agent: the view sums them.
		p.Packets("agent:"+r.Agent, r.Received, r.Lost)
	}
	if r.Done {
		st.done, st.runErr = true, r.Error
		c.log.Info("agent done", "agent", st.share.Name, "err", r.Error)
		return true
	}
	return false
}

// fetch pulls an agent's calls, a page at a time.
func (c *coordinator) fetch(s Share) (*load.Result, error) {
	var res *load.Result
	for offset := 0; ; {
		r, err := c.request(context.Background(), s.Agent, Request{Op: OpResults, Offset: offset})
		if err != nil {
			return nil, err
		}
		if r.Result == nil {
			return nil, fmt.Errorf("agent %s: a results page without results", s.Name)
		}
		if res == nil {
			res = r.Result.result()
		}
		for _, w := range r.Result.Page {
			res.Results = append(res.Results, w.call())
		}
		offset += len(r.Result.Page)
		if offset >= r.Total || len(r.Result.Page) == 0 {
			return res, nil
		}
	}
}

// lostResult counts a lost agent's whole share as failed: the calls it
// reported placed (in progress or ended, their figures went with it) and
// those it never placed.
func lostResult(st *agentState) *load.Result {
	s := st.share
	res := &load.Result{Calls: s.Calls, Concurrency: s.Concurrency, RampPerSec: s.RampPerSec, Placed: s.Calls, PeakRSSBytes: -1}
	ids := slices.Clone(st.placed)
	for len(ids) < s.Calls {
		ids = append(ids, "")
	}
	reason := "agent " + s.Name + " lost"
	for _, id := range ids[:s.Calls] {
		res.Results = append(res.Results, load.Call{ID: id, Err: st.lost,
			LoadCall: report.LoadCall{CallSummary: report.CallSummary{CallID: id, EndState: "Failed", Reason: reason, Error: st.lost.Error()}}})
	}
	return res
}

func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
