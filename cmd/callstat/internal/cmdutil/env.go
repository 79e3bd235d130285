package cmdutil

import (
	"strings"

	"github.com/spf13/pflag"
)

// Environment variables for flags. Each sets the flag's default; a flag on
// the command line wins. Every --help names the variable next to its flag.
const (
	EnvServer      = "CALLSTAT_SERVER"
	EnvStore       = "CALLSTAT_STORE"
	EnvAudio       = "CALLSTAT_AUDIO"
	EnvInterval    = "CALLSTAT_INTERVAL"
	EnvICELoopback = "CALLSTAT_ICE_LOOPBACK"
	EnvICEServers  = "CALLSTAT_ICE_SERVERS" // comma-separated
	EnvNetwork     = "CALLSTAT_NETWORK"
	EnvLogLevel    = "CALLSTAT_LOG_LEVEL"
	EnvLogFormat   = "CALLSTAT_LOG_FORMAT"
)

// BindEnv makes the environment variable env the default of the flag name:
// its value replaces the built-in default (and shows in --help), and the
// flag's usage names the variable. A value the flag cannot take is a usage
// error naming the variable.
func BindEnv(f *Factory, fs *pflag.FlagSet, name, env string) error {
	fl := fs.Lookup(name)
	fl.Usage += " (env " + env + ")"
	v := f.Getenv(env)
	if v == "" {
		return nil
	}
	var err error
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		// Replace, not Set: after Set, the command line would append to
		// the environment's list instead of replacing it.
		var items []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		err = sv.Replace(items)
	} else {
		err = fl.Value.Set(v)
	}
	if err != nil {
		return FlagErrorf("invalid %s=%q: %v", env, v, err)
	}
	fl.DefValue = fl.Value.String()
	return nil
}
