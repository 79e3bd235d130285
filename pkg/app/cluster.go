package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/callstat/callstat/pkg/natsconn"
	"github.com/callstat/callstat/pkg/signaling/natscluster"
)

// ClusterConfig makes a signaling server one node of a tier whose nodes
// reach each other over NATS (docs/scale-out.md).
type ClusterConfig struct {
	NATS natsconn.Options
	// NodeTimeout: a node silent this long is gone and the calls with its
	// parties end with 480 (natscluster.DefaultNodeTimeout when zero).
	NodeTimeout time.Duration
	// Lease: how long a dead node's registrations outlive it at most.
	Lease time.Duration
	// Replicas of the registrations bucket, when this node creates it.
	Replicas int
}

// joinCluster connects to NATS and joins the tier; leave leaves it and
// closes the connection, once the server has stopped.
func joinCluster(ctx context.Context, cfg ClusterConfig, software string, log *slog.Logger) (*natscluster.Node, func(), error) {
	var current atomic.Pointer[natscluster.Node]
	cfg.NATS.OnReconnect = func() {
		if n := current.Load(); n != nil {
			n.Reconnected()
		}
	}
	if cfg.NATS.Name == "" {
		cfg.NATS.Name = "callstat serve"
	}
	if cfg.NATS.Logger == nil {
		cfg.NATS.Logger = log
	}
	nc, err := natsconn.Connect(ctx, cfg.NATS)
	if err != nil {
		return nil, nil, fmt.Errorf("signaling cluster: %w", err)
	}
	node, err := natscluster.Join(ctx, natscluster.Config{
		Conn: nc, Logger: log, Software: software,
		NodeTimeout: cfg.NodeTimeout, Lease: cfg.Lease, Replicas: cfg.Replicas,
	})
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("signaling cluster: %w", err)
	}
	current.Store(node)
	return node, func() {
		_ = node.Close()
		nc.Close()
	}, nil
}
