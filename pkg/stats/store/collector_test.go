package store_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/collect"
	"github.com/callstat/callstat/pkg/stats/format"
)

type countingSource struct {
	id string
	n  int // only the collector's goroutine polls it
}

func (s *countingSource) ID() string { return s.id }

func (s *countingSource) CollectStats() (stats.Report, error) {
	s.n++
	return stats.Report{State: "Connected", Objects: []stats.Object{
		{"id": "OT", "type": "outbound-rtp", "timestamp": float64(time.Now().UnixMilli()), "packetsSent": float64(50 * s.n)},
	}}, nil
}

// evictionLog keeps the calls named by EvictionMessage lines.
type evictionLog struct {
	mu    sync.Mutex
	calls []string
}

func (h *evictionLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *evictionLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != stats.EvictionMessage {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "call" {
			h.mu.Lock()
			h.calls = append(h.calls, a.Value.String())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}
func (h *evictionLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *evictionLog) WithGroup(string) slog.Handler      { return h }

// Seven calls through the collector into SQLite: the ring keeps five, the
// seed's line is logged for each dropped call, and each kept call's
// samples come out of the file in order, ending with Stop's final one.
func TestCollectorIntoStore(t *testing.T) {
	st, _ := newStore(t)
	logs := &evictionLog{}
	c := collect.New(collect.Config{Sink: st, Interval: time.Hour, SDK: testSDK, Logger: slog.New(logs)})
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	for i := range 7 {
		id := fmt.Sprint("call-", i)
		c.Start(&countingSource{id: id}, begin("bob", id))
		if err := c.Stop(ctx, stats.EndRecord{CallID: id, Participant: "bob", State: "Ended", EndedAt: time.Now()}, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.Written() != 7 {
		t.Errorf("Written() = %d, want 7", c.Written())
	}
	logs.mu.Lock()
	if !reflect.DeepEqual(logs.calls, []string{"call-0", "call-1"}) {
		t.Errorf("eviction lines for %v, want call-0 then call-1", logs.calls)
	}
	logs.mu.Unlock()

	calls, err := format.ReadFile(bytes.NewReader(seedJSON(t, st, "bob")))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, fc := range calls {
		ids = append(ids, fc.CallID)
		s := fc.Samples()
		if len(s) != 1 || s[0][0].Type() != "callstat_sdk_info" || s[0][1].Type() != "outbound-rtp" {
			t.Errorf("%s: samples %v", fc.CallID, s)
		}
	}
	if !reflect.DeepEqual(ids, []string{"call-2", "call-3", "call-4", "call-5", "call-6"}) {
		t.Errorf("file holds %v", ids)
	}
}
