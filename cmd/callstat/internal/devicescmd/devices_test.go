package devicescmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/call/audio"
)

func TestNewCmdDevices(t *testing.T) {
	tests := []struct {
		args     string
		wantJSON bool
		wantErr  string
	}{
		{args: ""},
		{args: "--json", wantJSON: true},
		{args: "extra", wantErr: "unknown command"},
		{args: "--bogus", wantErr: "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			f, _, _ := cmdutil.TestFactory(nil)
			var got *Options
			cmd := NewCmdDevices(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(strings.Fields(tt.args))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.ExecuteContext(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.JSON != tt.wantJSON || got.List == nil {
				t.Errorf("options %+v", got)
			}
		})
	}
}

func TestRun(t *testing.T) {
	devs := []audio.Device{
		{ID: "callstat_a.monitor", Name: "Monitor of Null Output", Default: true},
		{ID: "alsa_input.usb-0d8c", Name: "USB Headset"},
	}
	list := func(d []audio.Device, err error) func(*slog.Logger) ([]audio.Device, error) {
		return func(*slog.Logger) ([]audio.Device, error) { return d, err }
	}
	t.Run("table", func(t *testing.T) {
		f, out, _ := cmdutil.TestFactory(nil)
		if err := devicesRun(context.Background(), &Options{Factory: f, List: list(devs, nil)}); err != nil {
			t.Fatal(err)
		}
		want := "ID                   DEFAULT  NAME\n" +
			"callstat_a.monitor   yes      Monitor of Null Output\n" +
			"alsa_input.usb-0d8c           USB Headset\n"
		if out.String() != want {
			t.Errorf("output:\n%s\nwant:\n%s", out, want)
		}
	})
	t.Run("json", func(t *testing.T) {
		f, out, _ := cmdutil.TestFactory(nil)
		if err := devicesRun(context.Background(), &Options{Factory: f, JSON: true, List: list(devs, nil)}); err != nil {
			t.Fatal(err)
		}
		var got []jsonDevice
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0] != (jsonDevice{ID: "callstat_a.monitor", Name: "Monitor of Null Output", Default: true}) {
			t.Errorf("json %+v", got)
		}
	})
	t.Run("none", func(t *testing.T) {
		f, out, errOut := cmdutil.TestFactory(nil)
		if err := devicesRun(context.Background(), &Options{Factory: f, List: list(nil, nil)}); err != nil {
			t.Fatal(err)
		}
		if out.Len() != 0 || !strings.Contains(errOut.String(), "no capture devices found") {
			t.Errorf("stdout %q, stderr %q", out, errOut)
		}
		f, out, _ = cmdutil.TestFactory(nil)
		if err := devicesRun(context.Background(), &Options{Factory: f, JSON: true, List: list(nil, nil)}); err != nil || strings.TrimSpace(out.String()) != "[]" {
			t.Errorf("json of no devices: %q, %v", out, err)
		}
	})
	t.Run("backend error", func(t *testing.T) {
		f, _, _ := cmdutil.TestFactory(nil)
		err := devicesRun(context.Background(), &Options{Factory: f, List: list(nil, fmt.Errorf("%w: no audio backend", audio.ErrUserMedia))})
		if !errors.Is(err, audio.ErrUserMedia) || cmdutil.ExitCodeFor(err) != cmdutil.ExitUserMedia {
			t.Errorf("err = %v", err)
		}
	})
}
