package cmdutil

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/pkg/natsconn"
)

// Environment variables for the NATS flags.
const (
	EnvNATS      = "CALLSTAT_NATS"
	EnvNATSCreds = "CALLSTAT_NATS_CREDS"
	EnvNATSCA    = "CALLSTAT_NATS_CA"
)

// NATSFlags reach the NATS of a scale-out setup (serve --nats, agent, call
// --agents, summary/dump --nats): docs/scale-out.md.
type NATSFlags struct {
	NATS           string
	NATSCreds      string
	NATSCA         string
	ConnectTimeout time.Duration
}

// AddNATSFlags registers --nats, --nats-creds, --nats-ca and
// --connect-timeout; what names what --nats does for the command.
func AddNATSFlags(cmd *cobra.Command, f *Factory, o *NATSFlags, what string) {
	fl := cmd.Flags()
	fl.StringVar(&o.NATS, "nats", f.Getenv(EnvNATS), what+": NATS server URL(s), comma-separated, nats:// or tls:// (env "+EnvNATS+")")
	fl.StringVar(&o.NATSCreds, "nats-creds", f.Getenv(EnvNATSCreds), "NATS credentials file (user JWT and NKey seed) (env "+EnvNATSCreds+")")
	fl.StringVar(&o.NATSCA, "nats-ca", f.Getenv(EnvNATSCA), "PEM file of the CA certificates to trust for TLS to NATS; implies TLS (env "+EnvNATSCA+")")
	fl.DurationVar(&o.ConnectTimeout, "connect-timeout", 0, "wait this long for NATS to come up at start (0: fail at once if it is down)")
}

// Enabled reports whether --nats was given.
func (o *NATSFlags) Enabled() bool { return o.NATS != "" }

// ValidateNATS checks the NATS flags (when --nats is given): a usage error
// names what is wrong.
func (o *NATSFlags) ValidateNATS() error {
	if o.ConnectTimeout < 0 {
		return FlagErrorf("--connect-timeout must not be negative")
	}
	if !o.Enabled() {
		if o.NATSCreds != "" || o.NATSCA != "" {
			return FlagErrorf("--nats-creds and --nats-ca need --nats")
		}
		return nil
	}
	if err := o.NATSOptions(nil, "").Validate(); err != nil {
		return &FlagError{Err: err}
	}
	return nil
}

// NATSOptions are the connection's options, logging through f's logger.
func (o *NATSFlags) NATSOptions(f *Factory, name string) natsconn.Options {
	opts := natsconn.Options{URL: o.NATS, CredsFile: o.NATSCreds, CAFile: o.NATSCA, ConnectTimeout: o.ConnectTimeout, Name: name}
	if f != nil {
		opts.Logger = f.Logger
	}
	return opts
}
