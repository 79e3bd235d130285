package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
)

// The demo leaves a stats file per participant and the caller's summary
// of every call, each ended by the demo's hang-up; the events reach the
// observers of both ends.
func TestDemo(t *testing.T) {
	defer test.TimeOut(time.Minute).Stop()
	defer test.CheckRoutines(t)()
	out := t.TempDir()
	obs := &countingObserver{}
	res, err := Demo(context.Background(), DemoConfig{
		OutDir: out, Calls: 1, Duration: 500 * time.Millisecond, Interval: 100 * time.Millisecond, ICELoopback: true,
		SDK: SDKInfo("1.2.3-test", "id"), Now: func() time.Time { return time.UnixMilli(1700000000123) },
		Logger: testLogger(), Observers: []Observer{obs},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 2 || res.Files[0].Participant != DemoCaller || res.Files[1].Participant != DemoCallee {
		t.Fatalf("files %+v", res.Files)
	}
	for _, f := range res.Files {
		want := filepath.Join(out, f.Participant, "1700000000123_sdk1.2.3-test_call_stats.json")
		if fi, err := os.Stat(f.Path); err != nil || f.Path != want || f.Calls != 1 || fi.Size() < 1000 {
			t.Errorf("%s: %+v (%v)", f.Participant, f, err)
		}
	}
	if len(res.Summaries) != 1 || res.Summaries[0].Reason != "demo call duration reached" || res.Summaries[0].Participant != DemoCaller {
		t.Errorf("summaries %+v", res.Summaries)
	}
	if started, ending, samples := obs.counts(); started != 2 || ending != 2 || samples < 2 {
		t.Errorf("observer: %d started, %d ending, %d samples; want both ends of one call", started, ending, samples)
	}
}
