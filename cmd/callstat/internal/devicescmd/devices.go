// Package devicescmd implements "callstat devices": list capture devices.
package devicescmd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/call/audio"
)

// Options are devices' flags and dependencies.
type Options struct {
	Factory *cmdutil.Factory
	JSON    bool
	// List enumerates the devices; audio.CaptureDevices unless a test
	// replaces it.
	List func(*slog.Logger) ([]audio.Device, error)
}

// NewCmdDevices builds the command; runF replaces the run function in tests.
func NewCmdDevices(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f, List: audio.CaptureDevices}
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the capture devices --audio mic can use",
		Long: `List the capture devices the audio backend reports (PulseAudio, or ALSA when
no PulseAudio server answers), one per line: the id that --audio mic:<id>
takes, whether it is the default device (what plain --audio mic captures),
and its name.

A device being listed does not prove it delivers audio: ALSA's "null" device
is always listed and is refused when opened. 'callstat call --audio mic'
probes the device before dialling.`,
		Example: `  callstat devices
  callstat devices --json | jq -r '.[] | select(.default) | .id'
  callstat call alice@example.com --from bob@example.com --audio mic:alsa_input.usb-headset`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return devicesRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array of {id, name, default}")
	return cmd
}

type jsonDevice struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Default bool   `json:"default"`
}

// devicesRun lists the devices on stdout.
func devicesRun(_ context.Context, opts *Options) error {
	f := opts.Factory
	devs, err := opts.List(f.Logger)
	if err != nil {
		return err
	}
	if opts.JSON {
		out := make([]jsonDevice, 0, len(devs))
		for _, d := range devs {
			out = append(out, jsonDevice{ID: d.ID, Name: d.Name, Default: d.Default})
		}
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(devs) == 0 {
		fmt.Fprintln(f.IO.ErrOut, "no capture devices found; use --audio tone or --audio file:PATH.wav")
		return nil
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDEFAULT\tNAME")
	for _, d := range devs {
		def := ""
		if d.Default {
			def = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.ID, def, d.Name)
	}
	return tw.Flush()
}
