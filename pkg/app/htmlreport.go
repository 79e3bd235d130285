package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/callstat/callstat/pkg/htmlreport"
	"github.com/callstat/callstat/pkg/runreport"
)

// HTMLReportConfig is a report of a store's calls to draw (callstat
// report).
type HTMLReportConfig struct {
	StorePath string
	// StoreHint says how to name another store, for the error when there
	// is none at StorePath.
	StoreHint string
	// Participants are the rings to show (empty: every one in the store).
	Participants []string
	// Out is the HTML file to write, replaced whole once complete; "-"
	// writes to Stdout.
	Out     string
	Stdout  io.Writer
	Version string
	Now     time.Time
}

// WriteHTMLReport draws the calls of a store as one self-contained HTML
// file (pkg/htmlreport). A store that is missing or holds nothing for the
// participants wraps store.ErrNoParticipant.
func WriteHTMLReport(ctx context.Context, cfg HTMLReportConfig) (htmlreport.Result, error) {
	var res htmlreport.Result
	st, err := OpenStoreToRead(ctx, cfg.StorePath, cfg.StoreHint)
	if err != nil {
		return res, err
	}
	rc := htmlreport.Config{Store: st, Participants: cfg.Participants, Version: cfg.Version, Now: cfg.Now}
	fill := func(w io.Writer) error {
		var err error
		res, err = htmlreport.Write(ctx, w, rc)
		return err
	}
	if cfg.Out == "-" {
		err = fill(cfg.Stdout)
	} else {
		err = runreport.WriteFile(cfg.Out, fill)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("report %s: %w", cfg.Out, err)
	}
	return res, errors.Join(err, st.Close())
}
