package fleet

import "errors"

// Errors of a distributed run, checked with errors.Is.
var (
	// ErrAgentLost: an agent stopped answering mid-run; its calls count
	// as failed.
	ErrAgentLost = errors.New("load agent lost")
	// ErrAgents: not enough agents could be enlisted (too few running,
	// busy, or of another callstat version).
	ErrAgents = errors.New("not enough load agents")
	// ErrAgent: an agent refused its share or a request.
	ErrAgent = errors.New("load agent refused")
)
