package ui

import (
	"testing"
	"time"
)

func TestLoadView(t *testing.T) {
	start := time.Unix(1700000000, 0)
	v := NewLoad(10, start)
	if got := v.Lines(start); len(got) != 1 || got[0] != "load  0/10 placed  0 up  0 ended  0 failed  00:00" {
		t.Fatalf("before any call: %q", got)
	}
	for range 4 {
		v.Placed()
	}
	for i := range 3 {
		v.Connected(time.Duration(10*(i+1)) * time.Millisecond)
	}
	v.Ended(true, false) // a connected call hung up
	v.Ended(false, true) // one that never connected
	v.Packets("a", 990, 10)
	v.Packets("b", 500, 0)
	v.Packets("a", 1485, 15) // a later sample replaces the call's counts
	p := v.Progress(start.Add(65 * time.Second))
	if p.Placed != 4 || p.Up != 2 || p.Ended != 2 || p.Failed != 1 || p.SetupP95Ms != 30 || !p.HaveLoss || p.LossPercent != 0.75 {
		t.Errorf("progress %+v", p)
	}
	line := v.Lines(start.Add(65 * time.Second))[0]
	if line != "load  4/10 placed  2 up  2 ended  1 failed  setup p95 30 ms  loss 0.75 %  01:05" {
		t.Errorf("line %q", line)
	}
	attrs := p.LogAttrs()
	if len(attrs) < 6 || attrs[0] != "placed" || attrs[1] != 4 || attrs[2] != "of" || attrs[3] != 10 || attrs[4] != "up" || attrs[5] != 2 {
		t.Errorf("log attributes %v", attrs)
	}
}
