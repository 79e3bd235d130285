// Package root assembles callstat's commands and runs the process: signals,
// errors and exit codes are handled here and nowhere else.
package root

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/answer"
	"github.com/callstat/callstat/cmd/callstat/internal/callcmd"
	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/cmd/callstat/internal/demo"
	"github.com/callstat/callstat/cmd/callstat/internal/devices"
	"github.com/callstat/callstat/cmd/callstat/internal/dump"
	"github.com/callstat/callstat/cmd/callstat/internal/serve"
)

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	var logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "callstat <command>",
		Short: "Headless softphone that places and answers WebRTC audio calls and records their statistics",
		Long: `callstat places or answers anonymous, audio-only WebRTC calls through a WebSocket
signaling server, samples each call's WebRTC statistics every second, keeps the
last five calls of each participant, and writes them to a stats file.`,
		Example: `  callstat serve --listen 127.0.0.1:8080 &
  callstat answer --as alice@example.com &
  callstat call alice@example.com --from bob@example.com --duration 10s
  callstat dump --participant bob@example.com --out artifacts/`,
		Version:       f.Build.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			log, err := cmdutil.NewLogger(f.IO.ErrOut, logLevel, logFormat)
			if err != nil {
				return err
			}
			f.Logger = log
			return nil
		},
	}
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.SetVersionTemplate(fmt.Sprintf("callstat %s (commit %s, %s, pion/webrtc %s, mediadevices %s)\n",
		f.Build.Version, orUnknown(f.Build.Commit), f.Build.GoVersion, orUnknown(f.Build.PionWebRTC), orUnknown(f.Build.MediaDevice)))
	cmd.PersistentFlags().StringVar(&logLevel, "log-level", f.EnvOr("CALLSTAT_LOG_LEVEL", "info"), "log level: silent, error, warn, info or debug (env CALLSTAT_LOG_LEVEL)")
	cmd.PersistentFlags().StringVar(&logFormat, "log-format", f.EnvOr("CALLSTAT_LOG_FORMAT", "text"), "log format: text or json (env CALLSTAT_LOG_FORMAT)")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &cmdutil.FlagError{Err: err}
	})

	cmd.AddCommand(serve.NewCmdServe(f, nil))
	cmd.AddCommand(answer.NewCmdAnswer(f, nil))
	cmd.AddCommand(callcmd.NewCmdCall(f, nil))
	cmd.AddCommand(dump.NewCmdDump(f, nil))
	cmd.AddCommand(demo.NewCmdDemo(f, nil))
	cmd.AddCommand(devices.NewCmdDevices(f, nil))
	return cmd
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Main runs callstat and returns the process exit code. The first SIGINT or
// SIGTERM cancels the command's context (calls hang up, stats flush); a
// second one exits at once.
func Main() int {
	f := cmdutil.NewFactory()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for range sigs {
			n++
			if n == 1 {
				cancel()
				continue
			}
			fmt.Fprintln(f.IO.ErrOut, "callstat: second signal, exiting now")
			os.Exit(int(cmdutil.ExitInterrupted))
		}
	}()

	cmd := NewCmdRoot(f)
	err := cmd.ExecuteContext(ctx)
	code := cmdutil.ExitCodeFor(err)
	if err != nil {
		var fe *cmdutil.FlagError
		msg := err.Error()
		if errors.As(err, &fe) {
			msg += "\nRun 'callstat --help' or 'callstat <command> --help' for usage."
		}
		fmt.Fprintf(f.IO.ErrOut, "callstat: %s\n", msg)
	}
	return int(code)
}
