package netem

import (
	"strings"
	"time"
)

// Profile is a named set of conditions, as testing services offer them.
type Profile struct {
	Name    string
	Summary string // the network it stands for
	// Source is where the figures come from (docs/network.md names each
	// in full). Where the source gives one "latency" for a network
	// (Loadero, Chrome DevTools) it is taken as the round trip and half of
	// it is each direction's delay, so that a call measures the source's
	// figure as its round-trip time; jitter, loss and rates are each
	// direction's.
	Source     string
	Conditions Conditions
}

// Sources, named in full in docs/network.md.
const (
	srcLoadero  = "Loadero"
	srcDevTools = "Chrome DevTools"
	srcStr0m    = "str0m-netem"
)

// oneWay builds one direction.
func oneWay(delay, jitter time.Duration, loss, burst float64, rate int64) Link {
	return Link{Delay: delay, Jitter: jitter, Loss: loss, Burst: burst, Rate: rate}
}

func both(l Link) Conditions { return Conditions{Up: l, Down: l} }

const (
	kbit = 1000
	mbit = 1000 * kbit
	ms   = time.Millisecond
)

// profiles in the order they are documented.
var profiles = []Profile{
	{"none", "no conditions: the network as it is", "", Conditions{}},
	{"wifi", "good Wi-Fi: a few ms, occasional short loss bursts", srcStr0m + " `wifi()`; burst length ours",
		both(oneWay(5*ms, 2*ms, 1, 2, 100*mbit))},
	{"lossy-wifi", "Wi-Fi with a weak signal or interference", srcStr0m + " `wifi_lossy()`; burst length ours",
		both(oneWay(15*ms, 10*ms, 5, 3, 50*mbit))},
	{"dsl", "DSL", srcDevTools + " \"DSL\"",
		Conditions{Up: oneWay(2500*time.Microsecond, 0, 0, 0, 1*mbit), Down: oneWay(2500*time.Microsecond, 0, 0, 0, 2*mbit)}},
	{"4g", "4G/LTE", srcLoadero + " \"4G\"",
		Conditions{Up: oneWay(22500*time.Microsecond, 15*ms, 0.2, 0, 50*mbit), Down: oneWay(22500*time.Microsecond, 5*ms, 0.2, 0, 100*mbit)}},
	{"hspa", "3.5G (HSPA)", srcLoadero + " \"3.5G/HSPA\"",
		Conditions{Up: oneWay(75*ms, 10*ms, 0.5, 0, 10*mbit), Down: oneWay(75*ms, 10*ms, 0.5, 0, 20*mbit)}},
	{"3g", "3G", srcLoadero + " \"3G\"",
		both(oneWay(125*ms, 50*ms, 0.5, 0, 1200*kbit))},
	{"edge", "2.5G (EDGE)", srcLoadero + " \"Edge\"",
		Conditions{Up: oneWay(325*ms, 100*ms, 1, 0, 260*kbit), Down: oneWay(325*ms, 100*ms, 1, 0, 200*kbit)}},
	{"gprs", "2G (GPRS): its uplink cannot carry a 32 kbit/s Opus stream", srcLoadero + " \"GPRS\"",
		Conditions{Up: oneWay(325*ms, 100*ms, 1, 0, 20*kbit), Down: oneWay(325*ms, 100*ms, 1, 0, 80*kbit)}},
	{"satellite", "geostationary satellite", srcLoadero + " \"Satellite phone\"",
		Conditions{Up: oneWay(300*ms, 0, 0, 0, 256*kbit), Down: oneWay(300*ms, 0, 0, 0, 1000*kbit)}},
	{"high-latency", "a long path", srcLoadero + " \"High latency\"",
		both(oneWay(250*ms, 50*ms, 0, 0, 0))},
	{"high-jitter", "a path whose delay varies a lot", srcLoadero + " \"High jitter\"",
		both(oneWay(100*ms, 100*ms, 0, 0, 0))},
}

// Profiles returns the named profiles.
func Profiles() []Profile {
	out := make([]Profile, len(profiles))
	copy(out, profiles)
	return out
}

// LookupProfile finds a profile by name (case-insensitive).
func LookupProfile(name string) (Profile, bool) {
	for _, p := range profiles {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return Profile{}, false
}

func profileNames() string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}
