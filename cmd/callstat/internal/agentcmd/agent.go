// Package agentcmd implements "callstat agent": run shares of distributed
// load runs on this host (docs/scale-out.md).
package agentcmd

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/app"
	"github.com/callstat/callstat/pkg/app/load/fleet"
	"github.com/callstat/callstat/pkg/natsconn"
)

// Options are agent's flags and dependencies.
type Options struct {
	Factory *cmdutil.Factory
	cmdutil.NATSFlags
	Name     string
	Capacity float64
	Store    string
	Server   string
	CAFile   string
	Timeout  time.Duration

	TLS *tls.Config // from CAFile
	// Ready, when set (tests), is called once the agent listens.
	Ready func(fleet.Hello)
}

// NewCmdAgent builds the command; runF replaces the run function in tests.
func NewCmdAgent(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "agent --nats <url>",
		Short: "Run shares of distributed load runs on this host",
		Long: `Wait on NATS for load runs and place this host's share of their calls: a
coordinator ("callstat call ... --calls N --agents K --nats URL") enlists K
agents, splits the calls by their capacity (--capacity, or the CPUs idle when
it asks), starts them together and merges their results. The calls' settings
(server, audio, interval, duration, ...) are the coordinator's; the store is
this host's own, so that "callstat summary --nats" and "callstat dump --nats"
can fetch its calls afterwards. One run at a time; a coordinator that goes
silent for --coordinator-timeout stops the run. Runs until SIGINT/SIGTERM,
which stops a run in progress (its calls hang up and are reported).

An agent refuses coordinators of another callstat version, and a coordinator
refuses such agents, both naming the two versions.`,
		Example: `  callstat agent --nats nats://127.0.0.1:4222 --name load-01 --store load-01.db
  callstat agent --nats tls://127.0.0.1:4222 --nats-ca ca.pem --nats-creds load.creds --capacity 300`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !opts.Enabled() {
				return cmdutil.FlagErrorf("--nats is required: the NATS the coordinator uses, e.g. --nats nats://10.0.0.2:4222")
			}
			if err := opts.ValidateNATS(); err != nil {
				return err
			}
			if opts.Capacity < 0 || opts.Timeout <= 0 {
				return cmdutil.FlagErrorf("--capacity must not be negative and --coordinator-timeout must be positive")
			}
			if opts.CAFile != "" {
				cfg, err := cmdutil.TLSClientConfig(opts.CAFile)
				if err != nil {
					return err
				}
				opts.TLS = cfg
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return agentRun(cmd.Context(), opts)
		},
	}
	host, _ := os.Hostname()
	cmdutil.AddNATSFlags(cmd, f, &opts.NATSFlags, "the NATS of the load runs")
	fl := cmd.Flags()
	fl.StringVar(&opts.Name, "name", host, "this agent's name in the coordinator's summary and in dump directories")
	fl.Float64Var(&opts.Capacity, "capacity", 0, "calls this host can carry: its weight in the split (0: its idle CPUs when asked)")
	fl.StringVar(&opts.Store, "store", f.DefaultStorePath(), "stats store file of this host's calls (env "+cmdutil.EnvStore+")")
	fl.StringVar(&opts.Server, "server", "", "signaling server URL this host uses instead of the coordinator's --server (e.g. a closer node)")
	fl.StringVar(&opts.CAFile, "ca-file", f.Getenv(cmdutil.EnvCAFile), "PEM file of the CA certificates to trust for wss:// (env "+cmdutil.EnvCAFile+")")
	fl.DurationVar(&opts.Timeout, "coordinator-timeout", fleet.DefaultTimeout, "stop a run whose coordinator is silent this long")
	return cmd
}

// agentRun serves coordinators until ctx is cancelled.
func agentRun(ctx context.Context, opts *Options) error {
	f := opts.Factory
	nc, err := natsconn.Connect(ctx, opts.NATSOptions(f, "callstat agent "+opts.Name))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer nc.Close()
	base := app.Config{
		StorePath: opts.Store, ServerURL: opts.Server, TLS: opts.TLS,
		SDK:    app.SDKInfo(f.Build.Version, f.InstanceID),
		Logger: f.Logger, StoredLogLevel: f.StoredLogLevel(),
	}
	_, err = fleet.RunAgent(ctx, fleet.AgentConfig{
		Conn: nc, Logger: f.Logger, Name: opts.Name, Version: f.Build.Version, Capacity: opts.Capacity,
		Base: base, Timeout: opts.Timeout, Ready: opts.Ready,
	})
	return err
}
