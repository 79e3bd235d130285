package cmdutil

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/buildinfo"
)

// TestFactory returns a factory with buffers for streams and a fixed
// environment, for command tests.
func TestFactory(env map[string]string) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	f := &Factory{
		IO:         IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut},
		Build:      buildinfo.Info{Version: "1.2.3-test", Commit: "abc", GoVersion: "go-test"},
		Getenv:     func(k string) string { return env[k] },
		Now:        func() time.Time { return time.UnixMilli(1700000000123) },
		Logger:     Discard,
		InstanceID: "00000000-0000-4000-8000-000000000000",
	}
	return f, &out, &errOut
}

// ExecuteForTest runs cmd with args split on spaces, its output discarded,
// for flag-parsing tests.
func ExecuteForTest(cmd *cobra.Command, args string) error {
	cmd.SetArgs(strings.Fields(args))
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(context.Background())
}

// IsFlagErrorWith reports whether err is a usage error whose text contains
// want.
func IsFlagErrorWith(err error, want string) bool {
	var fe *FlagError
	return errors.As(err, &fe) && strings.Contains(err.Error(), want)
}
