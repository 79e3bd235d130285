package netem

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	threeG, _ := LookupProfile("3g")
	fourG, _ := LookupProfile("4g")
	tests := []struct {
		spec string
		want Conditions
	}{
		{"none", Conditions{}},
		{"delay=40ms", both(Link{Delay: 40 * ms})},
		{"delay=40ms,jitter=10ms,loss=5%", both(Link{Delay: 40 * ms, Jitter: 10 * ms, Loss: 5})},
		{" Delay=1.5s , LOSS=0.25% ", both(Link{Delay: 1500 * ms, Loss: 0.25})},
		{"jitter=5ms,distribution=normal,reorder", both(Link{Jitter: 5 * ms, Distribution: Normal, Reorder: true})},
		{"loss=5%,burst=3", both(Link{Loss: 5, Burst: 3})},
		{"gemodel=1%", both(Link{GE: &GilbertElliott{P: 1, R: 100, LossBad: 100}})},
		{"gemodel=1%/30%/90%/0.5%", both(Link{GE: &GilbertElliott{P: 1, R: 30, LossBad: 90, LossGood: 0.5}})},
		{"rate=500kbit", both(Link{Rate: 500_000})},
		{"rate=1.5mbit,queue=20", both(Link{Rate: 1_500_000, Queue: 20})},
		{"rate=2gbit", both(Link{Rate: 2_000_000_000})},
		{"rate=64000bit", both(Link{Rate: 64_000})},
		{"dup=1%", both(Link{Duplicate: 1})},
		{"up.delay=40ms", Conditions{Up: Link{Delay: 40 * ms}}},
		{"down.loss=3%,up.dup=2%", Conditions{Up: Link{Duplicate: 2}, Down: Link{Loss: 3}}},
		// The direction's own key wins whatever the order.
		{"up.loss=1%,loss=5%", Conditions{Up: Link{Loss: 1}, Down: Link{Loss: 5}}},
		{"up.reorder,jitter=3ms", Conditions{Up: Link{Jitter: 3 * ms, Reorder: true}, Down: Link{Jitter: 3 * ms}}},
		{"seed=42,loss=1%", Conditions{Up: Link{Loss: 1}, Down: Link{Loss: 1}, Seed: 42}},
		{"3g", threeG.Conditions},
		{"3G,loss=2%", func() Conditions {
			c := threeG.Conditions
			c.Up.Loss, c.Down.Loss = 2, 2
			return c
		}()},
		{"4g,up.delay=100ms", func() Conditions {
			c := fourG.Conditions
			c.Up.Delay = 100 * ms
			return c
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got, tt.want) {
				t.Errorf("Parse(%q) = %s, want %s", tt.spec, got, tt.want)
			}
			back, err := Parse(got.String())
			if err != nil || !equal(back, got) {
				t.Errorf("Parse(%q) = %v, %v: does not read back %s", got.String(), back, err, got)
			}
		})
	}
}

func equal(a, b Conditions) bool {
	return a.Seed == b.Seed && sameLink(a.Up, b.Up) && sameLink(a.Down, b.Down)
}

func TestString(t *testing.T) {
	tests := []struct {
		c    Conditions
		want string
	}{
		{Conditions{}, "none"},
		{both(Link{Delay: 40 * ms, Jitter: 10 * ms, Loss: 5}), "delay=40ms,jitter=10ms,loss=5%"},
		{Conditions{Up: Link{Delay: 40 * ms, Rate: 500_000}, Down: Link{Delay: 40 * ms}}, "delay=40ms,up.rate=500kbit"},
		{Conditions{Up: Link{Loss: 1}, Down: Link{Loss: 2}, Seed: 9}, "up.loss=1%,down.loss=2%,seed=9"},
		{both(Link{Loss: 0.001, Burst: 2.5}), "loss=0.001%,burst=2.5"},
		{both(Link{Rate: 1_234_567, Queue: 3}), "rate=1234567bit,queue=3"},
		{both(Link{GE: &GilbertElliott{P: 1, R: 30, LossBad: 100}}), "gemodel=1%/30%/100%/0%"},
		{both(Link{Delay: 2500 * time.Microsecond}), "delay=2.5ms"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// Every bad value is refused with ErrInvalidSpec and a message that names
// the part at fault and says how to write it.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		spec string
		want []string // substrings of the message
	}{
		{"", []string{"empty", "3g", "delay=40ms"}},
		{"  ", []string{"empty"}},
		{"5g", []string{`"5g"`, "not a profile", "lossy-wifi"}},
		{"delay=40ms,,loss=1%", []string{"empty item"}},
		{"delay=40", []string{`"delay=40"`, "give a unit", "delay=40ms"}},
		{"delay=forty", []string{`"delay=forty"`, "not a duration"}},
		{"delay=-5ms", []string{"negative"}},
		{"delay=1h", []string{`"delay=1h"`, "at most 30s"}},
		{"delay=", []string{"needs a value", "delay=40ms"}},
		{"jitter=10", []string{`"jitter=10"`, "give a unit"}},
		{"loss=5", []string{`"loss=5"`, "percentage with %", "loss=2%"}},
		{"loss=150%", []string{`"loss=150%"`, "between 0% and 100%"}},
		{"loss=-1%", []string{`"loss=-1%"`, "not a percentage"}},
		{"loss=nan%", []string{`"loss=nan%"`, "not a percentage"}},
		{"loss=inf%", []string{"not a percentage"}},
		{"loss=1e2%", []string{"not a percentage"}},
		{"loss=0x10%", []string{"not a percentage"}},
		{"dup=abc", []string{`"dup=abc"`, "not a percentage"}},
		{"rate=500kbps", []string{`"rate=500kbps"`, "kilobytes", "kbit"}},
		{"rate=500k", []string{"ambiguous", "kbit"}},
		{"rate=500", []string{`"rate=500"`, "not a rate", "500kbit"}},
		{"rate=10bit", []string{"between 1kbit and 100gbit"}},
		{"rate=1000gbit", []string{"between 1kbit and 100gbit"}},
		{"queue=20", []string{"queue=20 without rate", "rate=500kbit"}},
		{"rate=1mbit,queue=0", []string{`"queue=0"`, "from 1 to"}},
		{"rate=1mbit,queue=lots", []string{`"queue=lots"`}},
		{"burst=3", []string{"burst=3 without loss", "loss=5%,burst=3"}},
		{"loss=5%,burst=0.5", []string{`"burst=0.5"`, "from 1 to"}},
		{"loss=90%,burst=1", []string{"cannot make 90% loss", "raise burst to at least 9"}},
		{"loss=100%,burst=2", []string{"every packet is lost", "drop burst"}},
		{"loss=1%,gemodel=1%", []string{"either loss (and burst) or gemodel"}},
		{"gemodel=1", []string{`"gemodel=1"`, "gemodel P", "percentage with %"}},
		{"gemodel=1%/2%/3%/4%/5%", []string{"at most four figures"}},
		{"gemodel=1%/200%", []string{"gemodel R", "between 0% and 100%"}},
		{"distribution=pareto", []string{`"distribution=pareto"`, "uniform or normal"}},
		{"reorder=yes", []string{`"reorder=yes"`, "takes no value"}},
		{"latency=40ms", []string{`unknown key "latency"`, "delay, jitter"}},
		{"left.delay=40ms", []string{`unknown key "left.delay"`, "up.KEY or down.KEY"}},
		{".delay=40ms", []string{`unknown key ".delay"`}},
		{"up.seed=1", []string{`unknown key "up.seed"`}},
		{"seed=x", []string{`"seed=x"`, "whole number"}},
		{"seed", []string{`"seed"`, "needs a value", "seed=42"}},
		{"loss=1%,loss=2%", []string{`"loss=2%"`, "loss is given twice"}},
		{"loss=1%,3g", []string{`"3g"`, "profile must come first", "3g,loss=1%"}},
		{"3g,4g", []string{`"4g"`, "profile must come first"}},
		{"delay", []string{`"delay"`, "needs a value", "delay=40ms"}},
		{"3g,lossy", []string{`"lossy"`, "want key=value"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			c, err := Parse(tt.spec)
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want an error", tt.spec, c)
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("error %v does not wrap ErrInvalidSpec", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// Conditions built in code are checked as strictly as parsed ones.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Conditions
		want string
	}{
		{"negative delay", both(Link{Delay: -time.Millisecond}), "delay=-1ms"},
		{"one direction named", Conditions{Up: Link{Loss: 101}}, "up.loss=101"},
		{"down named", Conditions{Down: Link{Jitter: time.Hour}}, "down.jitter=1h0m0s"},
		{"bad distribution", both(Link{Distribution: 7}), "distribution=Distribution(7)"},
		{"negative queue", both(Link{Rate: MinRate, Queue: -1}), "queue=-1"},
		{"GE out of range", both(Link{GE: &GilbertElliott{P: -1}}), "gemodel p=-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want ErrInvalidSpec naming %q", err, tt.want)
			}
			if _, err := New(tt.c, Options{}); !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("New() = %v, want ErrInvalidSpec", err)
			}
		})
	}
}

func TestDistributionString(t *testing.T) {
	for d, want := range map[Distribution]string{Uniform: "uniform", Normal: "normal", 9: "Distribution(9)"} {
		if got := d.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", d, got, want)
		}
	}
}

func TestMeanLoss(t *testing.T) {
	tests := []struct {
		l    Link
		want float64
	}{
		{Link{}, 0},
		{Link{Loss: 5}, 5},
		{Link{Loss: 5, Burst: 3}, 5},
		{Link{GE: &GilbertElliott{P: 1, R: 9, LossBad: 50, LossGood: 1}}, 0.1*50 + 0.9*1},
		{Link{GE: &GilbertElliott{LossGood: 2}}, 2},
	}
	for _, tt := range tests {
		if got := tt.l.MeanLoss(); got < tt.want-1e-9 || got > tt.want+1e-9 {
			t.Errorf("%+v: MeanLoss() = %v, want %v", tt.l, got, tt.want)
		}
	}
}

// FuzzParse: no input panics; every input is either refused with
// ErrInvalidSpec or read into conditions that pass Validate and whose
// String reads back to the same conditions.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"3g", "none", "delay=40ms,jitter=10ms,loss=5%", "3g,loss=2%", "up.rate=500kbit,queue=5",
		"loss=5%,burst=3,dup=1%", "gemodel=1%/30%/100%/0%", "seed=1,reorder,distribution=normal",
		"down.delay=1.5s", "rate=1.0005kbit", "loss=0.0000001%", "delay=1ns", ",", "=", "up.", "loss=%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := Parse(spec)
		if err != nil {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrInvalidSpec", spec, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %s, which fails Validate: %v", spec, c, err)
		}
		back, err := Parse(c.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %s, which does not parse back: %v", spec, c, err)
		}
		if !equal(back, c) {
			t.Fatalf("Parse(%q) = %+v; its String %q reads back as %+v", spec, c, c.String(), back)
		}
	})
}
