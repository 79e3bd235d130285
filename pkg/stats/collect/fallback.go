package collect

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/format"
)

// When the sink fails (a full disk, an unwritable file, a lock held too
// long), the collector keeps the batch and puts it in front of the next
// one, so that a store that recovers gets everything in order. Samples
// still refused at Close, or more than Config.MaxPending of them, are
// written as stats files in the seed's format to the first of
// Config.FallbackDirs that takes them: the call's statistics are
// never only in memory when the process exits.

// MaxPendingSamples bounds the samples kept in memory for a failing sink
// (an hour of one call at the default interval); more are written out.
const MaxPendingSamples = 3600

// ErrNotStored is wrapped by Close's error when samples could not be
// stored; the error names the fallback files, or says the samples are lost.
var ErrNotStored = errors.New("stats samples not stored")

// merge returns b followed by next.
func merge(b, next stats.Batch) stats.Batch {
	return stats.Batch{
		Begins:  append(b.Begins, next.Begins...),
		Samples: append(b.Samples, next.Samples...),
		Ends:    append(b.Ends, next.Ends...),
		Logs:    append(b.Logs, next.Logs...),
	}
}

// keep holds a refused batch for the next commit.
func (c *Collector) keep(b stats.Batch, err error) {
	if len(b.Logs) > 2*stats.MaxLogEntries { // the store keeps no more per participant anyway
		b.Logs = b.Logs[len(b.Logs)-2*stats.MaxLogEntries:]
	}
	c.pending = b
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
	if !c.failing {
		c.failing = true
		c.log.Error("stats store write failed", "err", err, "kept", len(b.Samples),
			"then", "kept in memory and retried with every commit; written to a stats file at exit if still refused")
	} else {
		c.log.Debug("stats store write failed again", "err", err, "pending", len(b.Samples))
	}
	if len(c.pending.Samples) > c.cfg.MaxPending {
		c.spill()
	}
}

// spill writes the pending samples to fallback files, one per participant,
// and forgets them; begins and ends stay pending for the store.
func (c *Collector) spill() {
	var parts []string
	byPart := map[string][]format.FileCall{}
	index := map[string]int{}
	for _, r := range c.pending.Begins {
		if _, ok := byPart[r.Participant]; !ok {
			parts = append(parts, r.Participant)
		}
		key := r.Participant + "\x00" + r.CallID
		if _, ok := index[key]; !ok {
			index[key] = len(byPart[r.Participant])
			byPart[r.Participant] = append(byPart[r.Participant], format.FileCall{CallID: r.CallID})
		}
	}
	for _, s := range c.pending.Samples {
		if _, ok := byPart[s.Participant]; !ok {
			parts = append(parts, s.Participant)
		}
		key := s.Participant + "\x00" + s.CallID
		i, ok := index[key]
		if !ok {
			i = len(byPart[s.Participant])
			index[key] = i
			byPart[s.Participant] = append(byPart[s.Participant], format.FileCall{CallID: s.CallID})
		}
		byPart[s.Participant][i].Objects = append(byPart[s.Participant][i].Objects, s.Objects...)
	}
	c.pending.Samples = nil
	for _, part := range parts {
		calls := byPart[part]
		samples := 0
		for _, s := range calls {
			samples += len(s.Samples())
		}
		path, err := c.writeFallback(calls)
		if err != nil {
			c.lost += samples
			c.spillErr = err
			c.log.Error("stats samples lost: no fallback directory took them", "participant", part, "samples", samples, "err", err)
			continue
		}
		c.fallbacks = append(c.fallbacks, path)
		c.log.Error("stats samples the store did not take were written to a file", "participant", part,
			"samples", samples, "path", path)
	}
}

// writeFallback writes calls as a stats file into the first fallback
// directory that takes it.
func (c *Collector) writeFallback(calls []format.FileCall) (string, error) {
	if len(c.cfg.FallbackDirs) == 0 {
		return "", errors.New("no fallback directory configured")
	}
	var errs []error
	for _, dir := range c.cfg.FallbackDirs {
		now := time.Now()
		for range 100 { // another file in the same millisecond: the next one
			path, err := format.WriteFileAtomic(dir, format.StatsFileName(now, c.cfg.SDK.Version), func(w io.Writer) error {
				return json.NewEncoder(w).Encode(calls)
			})
			if errors.Is(err, fs.ErrExist) {
				now = now.Add(time.Millisecond)
				continue
			}
			if err == nil {
				return path, nil
			}
			errs = append(errs, err)
			break
		}
	}
	return "", errors.Join(errs...)
}

// closeErr is Close's verdict: nil when every sample reached the sink.
func (c *Collector) closeErr() error {
	c.mu.Lock()
	lastErr := c.lastErr
	c.mu.Unlock()
	switch {
	case len(c.fallbacks) == 0 && c.lost == 0 && !c.failing:
		return nil
	case c.lost > 0:
		return fmt.Errorf("%w: %w; %d samples lost: %v", ErrNotStored, lastErr, c.lost, c.spillErr)
	case len(c.fallbacks) > 0:
		return fmt.Errorf("%w: %w; the samples the store did not take are in %s", ErrNotStored, lastErr,
			strings.Join(c.fallbacks, ", "))
	default: // only call records or logs were refused
		return fmt.Errorf("%w: %w", ErrNotStored, lastErr)
	}
}

// FallbackFiles lists the stats files written because the sink failed;
// valid after Close.
func (c *Collector) FallbackFiles() []string { return append([]string(nil), c.fallbacks...) }
