// Package fleet spreads a load run over many hosts: an Agent on each
// host runs its share of the calls with the load engine (package load),
// and a coordinator (Coordinate) enlists the agents over NATS, splits the
// calls by their capacity, starts them together, streams their progress
// and merges their results into one (load.Merge: percentiles over every
// call, never averaged). The subjects and messages are in
// docs/scale-out.md; keep the two in step.
package fleet

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/app/load"
	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/signaling/token"
	"github.com/callstat/callstat/pkg/stats/report"
	"github.com/callstat/callstat/pkg/stats/store"
)

// Version is the version of the subjects and messages.
const Version = 1

// Subjects. Every one starts with Prefix.
const (
	Prefix = "callstat.load.v1"
	// DiscoverSubject: a coordinator's request; every idle agent answers
	// with a Hello.
	DiscoverSubject = Prefix + ".discover"
	// AgentSubject + "." + agent id: requests to one agent (Request).
	AgentSubject = Prefix + ".agent"
	// RunSubject + "." + run id: what the agents of a run report (Report);
	// RunSubject + "." + run id + ".start": the start, to all at once;
	// RunSubject + "." + run id + ".coord": the coordinator's heartbeats.
	RunSubject = Prefix + ".run"
)

// Ops of a Request.
const (
	OpAssign  = "assign"  // take a share of a run (Spec)
	OpStop    = "stop"    // hang up and end the run now
	OpResults = "results" // a page of the run's calls
	OpRefuse  = "refuse"  // you are not enlisted: Message says why
	OpSummary = "summary" // the stored calls' summaries
	OpDump    = "dump"    // a chunk of a participant's stats file
)

// Hello is an agent's answer to a discovery.
type Hello struct {
	V       int    `json:"v"`
	Agent   string `json:"agent"` // unique id, for subjects
	Name    string `json:"name"`  // for people: --name, the host name by default
	Version string `json:"version"`
	// CPUs is how many CPUs the process may use; Idle the share of them
	// idle just now (0..1); Capacity the agent's own figure (--capacity,
	// calls it can carry), 0 when not given.
	CPUs     int     `json:"cpus"`
	Idle     float64 `json:"idle"`
	Capacity float64 `json:"capacity,omitempty"`
	Busy     bool    `json:"busy"`
}

// Weight is the agent's share of the calls relative to the others.
func (h Hello) Weight() float64 {
	if h.Capacity > 0 {
		return h.Capacity
	}
	return max(float64(h.CPUs)*h.Idle, 0.05)
}

// CalleeAgent in a run's callee id is replaced by each agent's name.
const CalleeAgent = "{agent}"

// Spec is one agent's share of a run: the load and every softphone
// setting the coordinator decides. What is the host's own (its store,
// logs, trust roots) the agent adds (Spec.Phone).
type Spec struct {
	Callee      string  `json:"callee"`
	From        string  `json:"from"`
	Calls       int     `json:"calls"`
	Concurrency int     `json:"concurrency"`
	RampPerSec  float64 `json:"rampPerSecond,omitempty"`
	HoldMs      int64   `json:"holdMs,omitempty"`

	Server                   string        `json:"server"`
	Audio                    string        `json:"audio"`
	IntervalMs               int64         `json:"intervalMs"`
	Decode                   bool          `json:"decode"`
	ICEServers               []string      `json:"iceServers,omitempty"`
	ICELoopback              bool          `json:"iceLoopback,omitempty"`
	AnswerTimeoutMs          int64         `json:"answerTimeoutMs,omitempty"`
	ICEDisconnectedTimeoutMs int64         `json:"iceDisconnectedTimeoutMs,omitempty"`
	ICEFailedTimeoutMs       int64         `json:"iceFailedTimeoutMs,omitempty"`
	ReconnectDelayMs         int64         `json:"reconnectDelayMs,omitempty"`
	ReconnectAttempts        int           `json:"reconnectAttempts,omitempty"`
	Tokens                   *token.Params `json:"tokens,omitempty"`
}

func ms(d time.Duration) int64   { return d.Milliseconds() }
func dur(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// SpecFor describes a run of cfg from softphone phone (its settings, not
// its host's: store, logger, observers and TLS stay behind).
func SpecFor(phone app.Config, cfg load.Config, audioSpec string) Spec {
	return Spec{
		Callee: cfg.Callee, From: phone.Identity, Calls: cfg.Calls, Concurrency: cfg.Concurrency,
		RampPerSec: cfg.RampPerSec, HoldMs: ms(cfg.Hold),
		Server: phone.ServerURL, Audio: audioSpec, IntervalMs: ms(phone.Interval), Decode: phone.Decode,
		ICEServers: phone.ICEServers, ICELoopback: phone.ICELoopback, AnswerTimeoutMs: ms(phone.AnswerTimeout),
		ICEDisconnectedTimeoutMs: ms(phone.ICEDisconnectedTimeout), ICEFailedTimeoutMs: ms(phone.ICEFailedTimeout),
		ReconnectDelayMs: ms(phone.ReconnectDelay), ReconnectAttempts: phone.ReconnectAttempts, Tokens: phone.Tokens,
	}
}

// Phone is the softphone of the share: base (the agent's store, logger,
// SDK info, TLS) with the spec's settings. base.ServerURL, when set (the
// agent's --server), wins over the coordinator's.
func (s Spec) Phone(base app.Config) (app.Config, error) {
	a, err := audio.ParseSpec(s.Audio)
	if err != nil {
		return app.Config{}, err
	}
	c := base
	c.Identity, c.Audio, c.Decode = s.From, a, s.Decode
	if c.ServerURL == "" {
		c.ServerURL = s.Server
	}
	c.Interval, c.AnswerTimeout = dur(s.IntervalMs), dur(s.AnswerTimeoutMs)
	c.ICEServers, c.ICELoopback = s.ICEServers, s.ICELoopback
	c.ICEDisconnectedTimeout, c.ICEFailedTimeout = dur(s.ICEDisconnectedTimeoutMs), dur(s.ICEFailedTimeoutMs)
	c.ReconnectDelay, c.ReconnectAttempts = dur(s.ReconnectDelayMs), s.ReconnectAttempts
	c.Tokens = s.Tokens
	c.RecordPath, c.RecordEachCall = "", false
	return c, c.Validate()
}

// Load is the share's load.Config.
func (s Spec) Load(progress load.Progress) load.Config {
	return load.Config{Callee: s.Callee, Calls: s.Calls, Concurrency: s.Concurrency, RampPerSec: s.RampPerSec,
		Hold: dur(s.HoldMs), Progress: progress}
}

// Request is a message to one agent.
type Request struct {
	V       int    `json:"v"`
	Op      string `json:"op"`
	Run     string `json:"run,omitempty"`
	Version string `json:"version,omitempty"` // the coordinator's callstat
	Spec    *Spec  `json:"spec,omitempty"`
	Offset  int    `json:"offset,omitempty"`
	Message string `json:"message,omitempty"`
	// Summary and dump.
	Participant string `json:"participant,omitempty"`
	Format      string `json:"format,omitempty"`
	Logs        bool   `json:"logs,omitempty"`
	Transfer    string `json:"transfer,omitempty"`
}

// Reply is an agent's answer to a Request.
type Reply struct {
	V     int    `json:"v"`
	Error string `json:"error,omitempty"`
	// ErrorKind names the sentinel of Error (see errorKinds), so that the
	// far side keeps its exit code.
	ErrorKind string `json:"errorKind,omitempty"`
	// Results.
	Result *WireResult `json:"result,omitempty"`
	Total  int         `json:"total,omitempty"`
	// Summary.
	Summaries []report.CallSummary `json:"summaries,omitempty"`
	// Dump: a chunk of the file (Name) at Offset of Total bytes.
	Name     string `json:"name,omitempty"`
	Data     []byte `json:"data,omitempty"`
	Transfer string `json:"transfer,omitempty"`
	Damaged  int64  `json:"damaged,omitempty"`
}

// Report is what an agent publishes on its run's subject: progress every
// ReportInterval (which is also its sign of life), and once at the end.
type Report struct {
	V     int     `json:"v"`
	Run   string  `json:"run"`
	Agent string  `json:"agent"`
	Seq   int64   `json:"seq"`
	Done  bool    `json:"done,omitempty"`
	Error string  `json:"error,omitempty"` // Done: the run could not start
	Calls []Event `json:"calls,omitempty"`
	// Received and Lost are the inbound packets of all the agent's calls
	// so far.
	Received float64 `json:"received"`
	Lost     float64 `json:"lost"`
}

// Event is what happened to one call since the last report.
type Event struct {
	ID      string  `json:"id"`
	Kind    string  `json:"k"` // "placed", "connected", "ended"
	SetupMs float64 `json:"setupMs,omitempty"`
	Up      bool    `json:"up,omitempty"`
	Failed  bool    `json:"failed,omitempty"`
}

// Event kinds.
const (
	EventPlaced    = "placed"
	EventConnected = "connected"
	EventEnded     = "ended"
)

// WireResult is a load.Result on the wire: the run's figures and a page of
// its calls.
type WireResult struct {
	Calls        int        `json:"calls"`
	Concurrency  int        `json:"concurrency"`
	RampPerSec   float64    `json:"rampPerSecond,omitempty"`
	Placed       int        `json:"placed"`
	ElapsedMs    float64    `json:"elapsedMs"`
	CPUMs        float64    `json:"cpuMs"`
	PeakRSSBytes int64      `json:"peakRssBytes"`
	Page         []WireCall `json:"page"`
}

// WireCall is one call of a run.
type WireCall struct {
	ID                string             `json:"id"`
	Summary           report.CallSummary `json:"summary"`
	PacketsExpected   float64            `json:"packetsExpected"`
	RemotePacketsLost float64            `json:"remotePacketsLost"`
	Err               *WireError         `json:"err,omitempty"`
	RecordErr         *WireError         `json:"recordErr,omitempty"`
}

// WireError is an error with the name of its sentinel.
type WireError struct {
	Kind    string `json:"kind,omitempty"`
	Message string `json:"message"`
}

// errorKinds name the sentinels an error of a call or of an agent can
// wrap; the exit codes hang on them.
var errorKinds = map[string]error{
	"server_unreachable": call.ErrServerUnreachable, "signaling_lost": call.ErrSignalingLost,
	"register_failed": call.ErrRegisterFailed, "auth": call.ErrAuth, "callee_not_found": call.ErrCalleeNotFound,
	"rejected": call.ErrRejected, "no_answer": call.ErrNoAnswer, "media_failure": call.ErrMediaFailure,
	"peer_lost": call.ErrPeerLost, "interrupted": call.ErrInterrupted, "server_shutdown": call.ErrServerShutdown,
	"protocol": call.ErrProtocol, "closed": call.ErrClosed, "record": audio.ErrRecord,
	"user_media": audio.ErrUserMedia, "bad_audio": audio.ErrBadSpec, "store": app.ErrStore,
	"tokens": app.ErrTokens, "agent_lost": ErrAgentLost, "agent": ErrAgent,
	"no_data": store.ErrNoParticipant, "ambiguous": store.ErrAmbiguous, "store_open": store.ErrOpen,
}

func toWire(err error) *WireError {
	if err == nil {
		return nil
	}
	w := &WireError{Message: err.Error()}
	for kind, sentinel := range errorKinds {
		if errors.Is(err, sentinel) {
			w.Kind = kind
			break
		}
	}
	return w
}

// remoteError is an error from another host: its text, and its sentinel
// for errors.Is.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func (w *WireError) err() error {
	if w == nil {
		return nil
	}
	return &remoteError{msg: w.Message, sentinel: errorKinds[w.Kind]}
}

func wireCall(c load.Call) WireCall {
	return WireCall{ID: c.ID, Summary: c.CallSummary, PacketsExpected: c.PacketsExpected,
		RemotePacketsLost: c.RemotePacketsLost, Err: toWire(c.Err), RecordErr: toWire(c.RecordErr)}
}

func (w WireCall) call() load.Call {
	return load.Call{ID: w.ID, LoadCall: report.LoadCall{CallSummary: w.Summary, PacketsExpected: w.PacketsExpected,
		RemotePacketsLost: w.RemotePacketsLost}, Err: w.Err.err(), RecordErr: w.RecordErr.err()}
}

func wireResult(r *load.Result) *WireResult {
	return &WireResult{Calls: r.Calls, Concurrency: r.Concurrency, RampPerSec: r.RampPerSec, Placed: r.Placed,
		ElapsedMs: float64(r.Elapsed) / 1e6, CPUMs: float64(r.CPU) / 1e6, PeakRSSBytes: r.PeakRSSBytes}
}

func (w *WireResult) result() *load.Result {
	return &load.Result{Calls: w.Calls, Concurrency: w.Concurrency, RampPerSec: w.RampPerSec, Placed: w.Placed,
		Elapsed: time.Duration(w.ElapsedMs * 1e6), CPU: time.Duration(w.CPUMs * 1e6), PeakRSSBytes: w.PeakRSSBytes}
}

func encode(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
