// Package rootcmd assembles callstat's commands and runs the process: signals,
// errors and exit codes are handled here and nowhere else.
package rootcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/agentcmd"
	"github.com/callstat/callstat/cmd/callstat/internal/answercmd"
	"github.com/callstat/callstat/cmd/callstat/internal/callcmd"
	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/cmd/callstat/internal/democmd"
	"github.com/callstat/callstat/cmd/callstat/internal/devicescmd"
	"github.com/callstat/callstat/cmd/callstat/internal/dumpcmd"
	"github.com/callstat/callstat/cmd/callstat/internal/reportcmd"
	"github.com/callstat/callstat/cmd/callstat/internal/servecmd"
	"github.com/callstat/callstat/cmd/callstat/internal/summarycmd"
	"github.com/callstat/callstat/cmd/callstat/internal/tokencmd"
	"github.com/callstat/callstat/cmd/callstat/internal/ui"
)

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	var logLevel, logFormat string
	var quiet, noProgress bool
	cmd := &cobra.Command{
		Use:   "callstat <command>",
		Short: "Headless softphone that places and answers WebRTC audio calls and records their statistics",
		Long: `callstat places or answers anonymous, audio-only WebRTC calls through a WebSocket
signaling server, samples each call's WebRTC statistics every second, keeps the
last five calls of each participant, and writes them to a stats file.`,
		Example: `  callstat serve --listen 127.0.0.1:8080 &
  callstat answer --as alice@example.com &
  callstat call alice@example.com --from bob@example.com --duration 10s
  callstat dump --participant bob@example.com --out artifacts/
  callstat summary --participant bob@example.com --assert 'mos>=4.0,loss<=1%'`,
		Version:       f.Build.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if quiet {
				if cmd.Flags().Changed("log-level") && logLevel != "error" && logLevel != "silent" {
					return cmdutil.FlagErrorf("--quiet shows errors only; it cannot be combined with --log-level %s", logLevel)
				}
				if logLevel != "silent" {
					logLevel = "error"
				}
			}
			lvl, err := cmdutil.ParseLogLevel(logLevel)
			if err != nil {
				return err
			}
			// Status lines only on a terminal: on a pipe or a file (CI)
			// stderr carries log lines only, without control characters.
			if !quiet && !noProgress && f.Status == nil && ui.IsTerminal(f.IO.ErrOut, f.Getenv) {
				f.Status = ui.NewTerminal(f.IO.ErrOut, ui.Width(f.IO.ErrOut))
				f.IO.ErrOut = f.Status
				if ui.IsTerminal(f.IO.Out, f.Getenv) { // the same screen: data goes above the status too
					f.IO.Out = f.Status.Above(f.IO.Out)
				}
			}
			log, err := cmdutil.NewLogger(f.IO.ErrOut, logLevel, logFormat)
			if err != nil {
				return err
			}
			f.Logger, f.LogLevel, f.LogFormat = log, lvl, strings.ToLower(logFormat)
			return nil
		},
	}
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.SetVersionTemplate(fmt.Sprintf("callstat %s (commit %s, %s, pion/webrtc %s, mediadevices %s)\n",
		f.Build.Version, orUnknown(f.Build.Commit), f.Build.GoVersion, orUnknown(f.Build.PionWebRTC), orUnknown(f.Build.MediaDevice)))
	pf := cmd.PersistentFlags()
	pf.StringVar(&logLevel, "log-level", f.EnvOr(cmdutil.EnvLogLevel, "info"), "log level: silent, error, warn, info or debug (env "+cmdutil.EnvLogLevel+")")
	pf.StringVar(&logFormat, "log-format", f.EnvOr(cmdutil.EnvLogFormat, "text"), "log format: text or json, one object per line (env "+cmdutil.EnvLogFormat+")")
	pf.BoolVarP(&quiet, "quiet", "q", false, "print errors only (and the data on stdout); no status line")
	pf.BoolVar(&noProgress, "no-progress", false, "no live status line, even on a terminal (logs are unchanged)")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &cmdutil.FlagError{Err: err}
	})

	cmd.AddCommand(servecmd.NewCmdServe(f, nil))
	cmd.AddCommand(answercmd.NewCmdAnswer(f, nil))
	cmd.AddCommand(callcmd.NewCmdCall(f, nil))
	cmd.AddCommand(dumpcmd.NewCmdDump(f, nil))
	cmd.AddCommand(summarycmd.NewCmdSummary(f, nil))
	cmd.AddCommand(reportcmd.NewCmdReport(f, nil))
	cmd.AddCommand(democmd.NewCmdDemo(f, nil))
	cmd.AddCommand(devicescmd.NewCmdDevices(f, nil))
	cmd.AddCommand(tokencmd.NewCmdToken(f, nil))
	cmd.AddCommand(agentcmd.NewCmdAgent(f, nil))
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

	stopProfiles, err := startProfiles(f.Getenv)
	if err != nil {
		fmt.Fprintf(f.IO.ErrOut, "callstat: %v\n", err)
		return int(cmdutil.ExitUsage)
	}
	cmd := NewCmdRoot(f)
	err = cmd.ExecuteContext(ctx)
	stopProfiles()
	code := cmdutil.ExitCodeFor(err)
	if err != nil {
		PrintError(f, err, code)
	}
	return int(code)
}

// PrintError reports the command's error on stderr: as a line of text, or
// with --log-format json as one JSON object like the log lines (level
// ERROR, with the exit code), so that every stderr line parses. It is
// printed even with --log-level silent: it is the command's result, not a
// log.
func PrintError(f *cmdutil.Factory, err error, code cmdutil.ExitCode) {
	var fe *cmdutil.FlagError
	usage := errors.As(err, &fe)
	if f.LogFormat == "json" {
		line := map[string]any{"time": f.Now().Format(time.RFC3339Nano), "level": "ERROR", "msg": err.Error(), "exitCode": int(code)}
		if usage {
			line["hint"] = "run 'callstat --help' or 'callstat <command> --help' for usage"
		}
		_ = json.NewEncoder(f.IO.ErrOut).Encode(line)
		return
	}
	msg := err.Error()
	if usage {
		msg += "\nRun 'callstat --help' or 'callstat <command> --help' for usage."
	}
	fmt.Fprintf(f.IO.ErrOut, "callstat: %s\n", msg)
}
