package signaling

import "errors"

// Errors a Cluster returns (cluster.go), checked with errors.Is.
var (
	// ErrClaimed: another node's live connection holds the id.
	ErrClaimed = errors.New("id registered on another node")
	// ErrNoRoute: no node holds the callee id.
	ErrNoRoute = errors.New("no node holds the callee")
	// ErrClusterDown: the other nodes cannot be reached now.
	ErrClusterDown = errors.New("signaling cluster unreachable")
	// ErrNodeTimeout: the node that holds the callee did not answer in time.
	ErrNodeTimeout = errors.New("node did not answer")
)
