package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/app/load"
	"github.com/callstat/callstat/pkg/app/load/fleet"
	"github.com/callstat/callstat/pkg/stats/report"
)

func TestAgentReports(t *testing.T) {
	setup := 40.0
	ok := fleet.AgentOutcome{Share: fleet.Share{Hello: fleet.Hello{Name: "a1"}, Calls: 1, Concurrency: 1},
		Result: &load.Result{Calls: 1, Placed: 1, Elapsed: time.Second, CPU: time.Second / 2,
			Results: []load.Call{{ID: "c1", LoadCall: report.LoadCall{CallSummary: report.CallSummary{CallID: "c1", SetupMs: &setup}}}}}}
	lost := fleet.AgentOutcome{Share: fleet.Share{Hello: fleet.Hello{Name: "a2"}, Calls: 2, Concurrency: 2},
		Result: &load.Result{Calls: 2, Placed: 2, Results: []load.Call{lostCall("x"), lostCall("")}},
		Err:    fmt.Errorf("%w: agent a2: no report for 5s", fleet.ErrAgentLost)}
	now := func() time.Time { return time.UnixMilli(0) }

	var text bytes.Buffer
	if err := (&Output{W: &text, Now: now}).AgentReports([]fleet.AgentOutcome{ok, lost}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "agent a1: 1 calls (concurrency 1), 1 connected, 0 failed, setup p95 40.0 ms, cpu 50 % of one core") ||
		!strings.Contains(lines[1], "2 failed") || !strings.Contains(lines[1], "no report for 5s") {
		t.Errorf("text:\n%s", text.String())
	}

	var js bytes.Buffer
	if err := (&Output{W: &js, JSON: true, Now: now}).AgentReports([]fleet.AgentOutcome{ok, lost}); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(js.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		got = append(got, m)
	}
	if len(got) != 2 || got[0]["msg"] != "agent summary" || got[0]["agent"] != "a1" || got[0]["error"] != nil ||
		got[1]["level"] != "ERROR" || got[1]["error"] == nil {
		t.Errorf("json:\n%s", js.String())
	}

	var quiet bytes.Buffer
	if err := (&Output{W: &quiet, Quiet: true}).AgentReports([]fleet.AgentOutcome{ok}); err != nil || quiet.Len() != 0 {
		t.Errorf("quiet wrote %q", quiet.String())
	}
}

// lostCall is a call of a lost agent as the coordinator counts it.
func lostCall(id string) load.Call {
	return load.Call{ID: id, Err: fleet.ErrAgentLost, LoadCall: report.LoadCall{CallSummary: report.CallSummary{
		CallID: id, EndState: "Failed", Reason: "agent a2 lost", Error: fleet.ErrAgentLost.Error()}}}
}
