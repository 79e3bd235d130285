package ui

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/callstat/callstat/pkg/app/load/fleet"
)

// AgentReports shows each agent's line of a distributed run (callstat call
// --agents), before the run's own summary: its share, its calls' figures,
// its process, and why it was lost if it was. As text, or as one JSON line
// per agent ("msg":"agent summary"). Not when Quiet.
func (o *Output) AgentReports(agents []fleet.AgentOutcome) error {
	if o.Quiet {
		return nil
	}
	var b bytes.Buffer
	for _, a := range agents {
		r := a.Result.Report()
		errText := ""
		if a.Err != nil {
			errText = a.Err.Error()
		}
		if o.JSON {
			line := map[string]any{"time": o.now(), "level": "INFO", "msg": "agent summary", "agent": a.Name,
				"share": map[string]any{"calls": a.Calls, "concurrency": a.Concurrency, "rampPerSecond": a.RampPerSec}, "summary": r}
			if errText != "" {
				line["level"], line["error"] = "ERROR", errText
			}
			if err := json.NewEncoder(&b).Encode(line); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(&b, "agent %s: %d calls (concurrency %d), %d connected, %d failed, setup p95 %s, cpu %.0f %% of one core",
			a.Name, a.Calls, a.Concurrency, r.Connected, r.Failed, msFig(r.SetupP95Ms), r.CPUPercent())
		if errText != "" {
			fmt.Fprintf(&b, " — %s", errText)
		}
		b.WriteByte('\n')
	}
	return o.write(b.Bytes())
}
