package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/app/load"
	"github.com/callstat/callstat/pkg/stats/format"
)

// Timing of a run's messages.
const (
	// ReportInterval: how often an agent reports (and shows it is alive),
	// and a coordinator beats.
	ReportInterval = 500 * time.Millisecond
	// DefaultTimeout: an agent or a coordinator silent this long is gone.
	DefaultTimeout = 5 * time.Second
	// pageCalls is how many calls one results page carries (well under
	// NATS's default 1 MB payload).
	pageCalls = 100
	// chunkBytes is the size of a dump chunk.
	chunkBytes = 256 << 10
	// transferTTL is how long a dump being fetched is kept.
	transferTTL = time.Minute
)

// AgentConfig is a load agent: callstat agent.
type AgentConfig struct {
	Conn    *nats.Conn
	Logger  *slog.Logger
	Name    string // for people (default: the host name)
	Version string // callstat's version: a coordinator of another refuses it
	// Capacity, when positive, is the agent's weight in the split (calls
	// it can carry) instead of its idle CPUs.
	Capacity float64
	// Base is the softphone every share runs on: the host's store, logger,
	// SDK info and TLS (Spec.Phone adds the run's settings).
	Base app.Config
	// Timeout: a coordinator silent this long is gone and the run stops
	// (DefaultTimeout when zero).
	Timeout time.Duration
	// Ready, if set, is called once the agent listens.
	Ready func(Hello)
}

// AgentStats count what an agent ignored.
type AgentStats struct {
	Runs    int64
	Ignored int64 // messages that did not parse or were for another run
}

// Agent runs the shares coordinators give it, one run at a time.
type Agent struct {
	cfg   AgentConfig
	nc    *nats.Conn
	log   *slog.Logger
	hello Hello

	mu        sync.Mutex
	run       string // the run enlisted in ("": idle)
	running   bool
	cancelRun context.CancelFunc
	lastCoord time.Time
	results   map[string]*load.Result // by run: the last run's, for fetching
	transfers map[string]*transfer

	wg             sync.WaitGroup
	runs, ignoredN atomic.Int64
	reportSeq      atomic.Int64
}

type transfer struct {
	name    string
	data    []byte
	damaged int64
	at      time.Time
}

// RunAgent serves coordinators until ctx is done; a run in progress then
// stops (its calls hang up) and is reported.
func RunAgent(ctx context.Context, cfg AgentConfig) (AgentStats, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	a := &Agent{cfg: cfg, nc: cfg.Conn, results: map[string]*load.Result{}, transfers: map[string]*transfer{}}
	id := uuid.NewString()[:8]
	a.hello = Hello{V: Version, Agent: cfg.Name + "-" + id, Name: cfg.Name, Version: cfg.Version, CPUs: cpus(), Capacity: cfg.Capacity}
	a.hello.Agent = subjectToken(a.hello.Agent)
	a.log = cfg.Logger.With("agent", a.hello.Name)
	disc, err := a.nc.Subscribe(DiscoverSubject, a.onDiscover)
	if err != nil {
		return AgentStats{}, err
	}
	defer func() { _ = disc.Unsubscribe() }()
	reqs, err := a.nc.Subscribe(AgentSubject+"."+a.hello.Agent, a.onRequest)
	if err != nil {
		return AgentStats{}, err
	}
	defer func() { _ = reqs.Unsubscribe() }()
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = a.nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		return AgentStats{}, fmt.Errorf("agent: subscribing: %w", err)
	}
	a.log.Info("load agent ready", "id", a.hello.Agent, "version", cfg.Version, "cpus", a.hello.CPUs, "capacity", cfg.Capacity)
	if cfg.Ready != nil {
		cfg.Ready(a.hello)
	}
	a.wg.Add(1)
	go a.watchCoordinator(ctx)
	<-ctx.Done()
	a.mu.Lock()
	if a.cancelRun != nil {
		a.cancelRun()
	}
	a.mu.Unlock()
	a.wg.Wait()
	st := AgentStats{Runs: a.runs.Load(), Ignored: a.ignoredN.Load()}
	a.log.Info("load agent stopped", "runs", st.Runs, "ignored", st.Ignored)
	return st, nil
}

// subjectToken makes s usable as one subject token.
func subjectToken(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '.' || c == '*' || c == '>' || c <= ' ' || c > '~' {
			b[i] = '_'
		}
	}
	return string(b)
}

func (a *Agent) onDiscover(msg *nats.Msg) {
	var req Request
	if json.Unmarshal(msg.Data, &req) != nil || req.V != Version || msg.Reply == "" {
		a.ignoredN.Add(1)
		return
	}
	h := a.hello
	a.mu.Lock()
	h.Busy = a.run != "" && a.run != req.Run
	a.mu.Unlock()
	h.Idle = idleShare(100 * time.Millisecond)
	_ = msg.Respond(encode(h))
}

func (a *Agent) respond(msg *nats.Msg, r Reply) {
	r.V = Version
	if msg.Reply != "" {
		_ = msg.Respond(encode(r))
	}
}

func errReply(err error) Reply {
	w := toWire(err)
	return Reply{Error: w.Message, ErrorKind: w.Kind}
}

func (a *Agent) onRequest(msg *nats.Msg) {
	var req Request
	if err := json.Unmarshal(msg.Data, &req); err != nil || req.V != Version {
		a.ignoredN.Add(1)
		a.respond(msg, Reply{Error: "not a request this agent understands (fleet protocol v1)"})
		return
	}
	switch req.Op {
	case OpAssign:
		a.assign(msg, req)
	case OpStop:
		a.mu.Lock()
		if a.run == req.Run && a.cancelRun != nil {
			a.cancelRun()
		} else {
			a.ignoredN.Add(1)
		}
		a.mu.Unlock()
		a.respond(msg, Reply{})
	case OpResults:
		a.page(msg, req)
	case OpRefuse:
		a.log.Warn("refused by a coordinator", "run", req.Run, "reason", req.Message)
		a.mu.Lock()
		if a.run == req.Run && !a.running {
			a.run = ""
		}
		a.mu.Unlock()
		a.respond(msg, Reply{})
	case OpSummary:
		rows, err := app.Summaries(context.Background(), a.cfg.Base.StorePath, "", req.Participant)
		if err != nil {
			a.respond(msg, errReply(err))
			return
		}
		a.respond(msg, Reply{Summaries: rows})
	case OpDump:
		a.dump(msg, req)
	default:
		a.ignoredN.Add(1)
		a.respond(msg, Reply{Error: fmt.Sprintf("unknown op %q", req.Op)})
	}
}

// assign takes a share: the run starts when the start arrives.
func (a *Agent) assign(msg *nats.Msg, req Request) {
	if req.Spec == nil || req.Run == "" {
		a.respond(msg, Reply{Error: "assign without a run or a spec"})
		return
	}
	if req.Version != a.cfg.Version {
		err := fmt.Errorf("%w: this agent runs callstat %s, the coordinator %s", ErrAgent, a.cfg.Version, req.Version)
		a.log.Warn("share refused", "run", req.Run, "err", err)
		a.respond(msg, errReply(err))
		return
	}
	// Each agent may call a callee of its own: "{agent}" in the callee is
	// its name (a large run needs several answerers, one id each).
	req.Spec.Callee = strings.ReplaceAll(req.Spec.Callee, CalleeAgent, a.hello.Name)
	phone, err := req.Spec.Phone(a.cfg.Base)
	if err == nil {
		lc := req.Spec.Load(nil)
		err = lc.Validate()
	}
	if err != nil {
		a.respond(msg, errReply(fmt.Errorf("%w: %w", ErrAgent, err)))
		return
	}
	a.mu.Lock()
	if a.run != "" && a.run != req.Run {
		busy := a.run
		a.mu.Unlock()
		a.respond(msg, Reply{Error: fmt.Sprintf("busy with run %s", busy)})
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.run, a.cancelRun, a.lastCoord = req.Run, cancel, time.Now()
	a.mu.Unlock()

	start := make(chan struct{})
	var once sync.Once
	sub, err := a.nc.Subscribe(RunSubject+"."+req.Run+".start", func(m *nats.Msg) {
		var r Request
		if json.Unmarshal(m.Data, &r) != nil || r.Run != req.Run {
			a.ignoredN.Add(1)
			return
		}
		once.Do(func() { close(start) })
	})
	if err != nil {
		cancel()
		a.respond(msg, errReply(err))
		return
	}
	coord, err := a.nc.Subscribe(RunSubject+"."+req.Run+".coord", func(m *nats.Msg) {
		var r Request
		if json.Unmarshal(m.Data, &r) != nil || r.Run != req.Run {
			a.ignoredN.Add(1)
			return
		}
		a.mu.Lock()
		a.lastCoord = time.Now()
		a.mu.Unlock()
	})
	if err != nil {
		_ = sub.Unsubscribe()
		cancel()
		a.respond(msg, errReply(err))
		return
	}
	if err := a.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		_ = coord.Unsubscribe()
		cancel()
		a.respond(msg, errReply(err))
		return
	}
	a.log.Info("share assigned", "run", req.Run, "calls", req.Spec.Calls, "concurrency", req.Spec.Concurrency,
		"ramp", req.Spec.RampPerSec, "server", phone.ServerURL)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() { _ = sub.Unsubscribe(); _ = coord.Unsubscribe() }()
		select {
		case <-start:
		case <-ctx.Done():
			a.finish(req.Run, nil, errors.New("stopped before the start"))
			return
		}
		a.mu.Lock()
		a.running = true
		a.mu.Unlock()
		a.execute(ctx, req.Run, phone, *req.Spec)
	}()
	a.respond(msg, Reply{})
}

// execute runs the share and reports as it goes.
func (a *Agent) execute(ctx context.Context, run string, phone app.Config, spec Spec) {
	a.runs.Add(1)
	prog := &agentProgress{}
	done := make(chan struct{})
	reporter := make(chan struct{})
	go func() {
		defer close(reporter)
		tick := time.NewTicker(ReportInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				a.report(run, prog, false, nil)
			}
		}
	}()
	a.log.Info("share started", "run", run)
	res, err := load.Run(ctx, phone, spec.Load(prog))
	close(done)
	<-reporter
	if res == nil && err == nil {
		err = errors.New("the run returned nothing")
	}
	a.mu.Lock()
	a.results = map[string]*load.Result{run: res} // the last run's only
	a.mu.Unlock()
	a.report(run, prog, true, err)
	if res != nil {
		a.log.Info("share done", "run", run, "placed", res.Placed, "calls", len(res.Results), "err", err)
	}
	a.finish(run, res, err)
}

func (a *Agent) finish(run string, _ *load.Result, err error) {
	a.mu.Lock()
	if a.run == run {
		a.run, a.running, a.cancelRun = "", false, nil
	}
	a.mu.Unlock()
	if err != nil {
		a.log.Warn("share ended", "run", run, "err", err)
	}
}

func (a *Agent) report(run string, prog *agentProgress, done bool, err error) {
	r := Report{V: Version, Run: run, Agent: a.hello.Agent, Seq: a.reportSeq.Add(1), Done: done}
	r.Calls, r.Received, r.Lost = prog.take()
	if err != nil {
		r.Error = err.Error()
	}
	_ = a.nc.Publish(RunSubject+"."+run, encode(r))
	if done {
		_ = a.nc.Flush()
	}
}

// watchCoordinator stops a run whose coordinator went silent.
func (a *Agent) watchCoordinator(ctx context.Context) {
	defer a.wg.Done()
	tick := time.NewTicker(ReportInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a.mu.Lock()
		if !a.nc.IsConnected() {
			// Cut off from NATS ourselves: the coordinator's silence is
			// not its own; its clock starts again once we are back.
			a.lastCoord = time.Now()
		}
		if a.run != "" && a.cancelRun != nil && time.Since(a.lastCoord) > a.cfg.Timeout {
			a.log.Warn("coordinator gone: stopping the run", "run", a.run, "silentFor", a.cfg.Timeout.String())
			a.cancelRun()
			a.lastCoord = time.Now()
		}
		a.mu.Unlock()
	}
}

// page answers a results request: a page of the run's calls.
func (a *Agent) page(msg *nats.Msg, req Request) {
	a.mu.Lock()
	res := a.results[req.Run]
	a.mu.Unlock()
	if res == nil {
		a.respond(msg, Reply{Error: fmt.Sprintf("no results of run %s here", req.Run)})
		return
	}
	w := wireResult(res)
	end := min(req.Offset+pageCalls, len(res.Results))
	for _, c := range res.Results[min(req.Offset, end):end] {
		w.Page = append(w.Page, wireCall(c))
	}
	a.respond(msg, Reply{Result: w, Total: len(res.Results)})
}

// dump serves a participant's stats file in chunks: the first request
// renders it, the next ones name its transfer.
func (a *Agent) dump(msg *nats.Msg, req Request) {
	a.mu.Lock()
	for id, t := range a.transfers {
		if time.Since(t.at) > transferTTL {
			delete(a.transfers, id)
		}
	}
	t := a.transfers[req.Transfer]
	a.mu.Unlock()
	if t == nil {
		var buf bytes.Buffer
		res, err := app.Dump(context.Background(), app.DumpConfig{StorePath: a.cfg.Base.StorePath, Participant: req.Participant,
			Dir: "-", Stdout: &buf, Format: req.Format, Now: time.Now(), Version: a.cfg.Version})
		if err != nil {
			a.respond(msg, errReply(err))
			return
		}
		name := format.StatsFileName(time.Now(), a.cfg.Version)
		if req.Format == app.FormatInternals {
			name = format.InternalsFileName(time.Now(), a.cfg.Version)
		}
		t = &transfer{name: name, data: buf.Bytes(), damaged: res.Damaged, at: time.Now()}
		req.Transfer = uuid.NewString()
		a.mu.Lock()
		a.transfers[req.Transfer] = t
		a.mu.Unlock()
	}
	end := min(req.Offset+chunkBytes, len(t.data))
	start := min(req.Offset, end)
	if end == len(t.data) {
		a.mu.Lock()
		delete(a.transfers, req.Transfer)
		a.mu.Unlock()
	}
	a.respond(msg, Reply{Name: t.name, Data: t.data[start:end], Total: len(t.data), Transfer: req.Transfer, Damaged: t.damaged})
}

// agentProgress collects what happens to the share's calls between two
// reports.
type agentProgress struct {
	mu      sync.Mutex
	events  []Event
	packets map[string][2]float64
}

func (p *agentProgress) add(e Event) {
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
}

func (p *agentProgress) Placed(id string) { p.add(Event{ID: id, Kind: EventPlaced}) }
func (p *agentProgress) Connected(id string, setup time.Duration) {
	p.add(Event{ID: id, Kind: EventConnected, SetupMs: float64(setup) / 1e6})
}
func (p *agentProgress) Ended(id string, up, failed bool) {
	p.add(Event{ID: id, Kind: EventEnded, Up: up, Failed: failed})
}
func (p *agentProgress) Packets(id string, received, lost float64) {
	p.mu.Lock()
	if p.packets == nil {
		p.packets = map[string][2]float64{}
	}
	p.packets[id] = [2]float64{received, lost}
	p.mu.Unlock()
}

func (p *agentProgress) take() ([]Event, float64, float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := p.events
	p.events = nil
	var received, lost float64
	for _, c := range p.packets {
		received += c[0]
		lost += c[1]
	}
	return ev, received, lost
}
