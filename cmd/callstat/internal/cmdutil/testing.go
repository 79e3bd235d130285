package cmdutil

import (
	"bytes"
	"time"

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
