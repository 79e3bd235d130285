package netem

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Parse reads conditions as --network takes them: a comma-separated list
// of an optional profile name, first (see Profiles), then key=value items
// that set or override one figure:
//
//	3g
//	delay=40ms,jitter=10ms,loss=5%
//	3g,loss=2%
//	lossy-wifi,up.rate=300kbit
//	loss=5%,burst=3,dup=1%,rate=500kbit,queue=20,seed=7
//
// A key applies to both directions; with "up." it applies to what this
// process sends only, with "down." to what it receives only, whatever the
// order of the items. The keys: delay, jitter (durations with a unit:
// 40ms, 1.5s), distribution (uniform or normal), reorder (no value), loss,
// dup (percentages with %), burst (mean packets lost in a row), gemodel
// (P%/R%/1-H%/1-K%, netem's loss gemodel: the last three may be left
// out), rate (bit, kbit, mbit or gbit per second), queue (packets) and
// seed. "none" is no conditions at all.
func Parse(spec string) (Conditions, error) {
	var c Conditions
	if strings.TrimSpace(spec) == "" {
		return c, fmt.Errorf("%w: empty: give a profile (%s) or conditions such as delay=40ms,loss=2%%", ErrInvalidSpec, profileNames())
	}
	items := strings.Split(spec, ",")
	seen := map[string]bool{}
	// Both directions first, then one direction's: the more specific
	// wins whatever the order they were written in.
	var both, one []kv
	for i, raw := range items {
		item := strings.ToLower(strings.TrimSpace(raw))
		if item == "" {
			return c, fmt.Errorf("%w: %q: empty item; separate the items with single commas", ErrInvalidSpec, spec)
		}
		key, value, hasValue := strings.Cut(item, "=")
		key = strings.TrimSpace(key)
		value = strings.TrimSpace(value)
		if !hasValue && isKey(key) && !isFlag(key) {
			return c, fmt.Errorf("%w: %q: %s needs a value, e.g. %s", ErrInvalidSpec, raw, key, exampleOf(key))
		}
		if !hasValue && !isFlag(key) {
			p, ok := LookupProfile(key)
			switch {
			case !ok && i == 0:
				return c, fmt.Errorf("%w: %q: not a profile (%s) nor key=value", ErrInvalidSpec, raw, profileNames())
			case !ok:
				return c, fmt.Errorf("%w: %q: want key=value (%s)", ErrInvalidSpec, raw, keyNames())
			case i > 0:
				return c, fmt.Errorf("%w: %q: a profile must come first and alone, e.g. %s,%s", ErrInvalidSpec, raw, key, strings.Join(slices.Delete(slices.Clone(items), i, i+1), ","))
			}
			c = p.Conditions
			continue
		}
		if seen[key] {
			return c, fmt.Errorf("%w: %q: %s is given twice", ErrInvalidSpec, raw, key)
		}
		seen[key] = true
		if key == "seed" {
			seed, err := strconv.ParseUint(value, 10, 64)
			if err != nil || !hasValue {
				return c, fmt.Errorf("%w: %q: the seed is a whole number, e.g. seed=42", ErrInvalidSpec, raw)
			}
			c.Seed = seed
			continue
		}
		dir, name := "", key
		if d, rest, ok := strings.Cut(key, "."); ok {
			dir, name = d, rest
			if dir != "up" && dir != "down" {
				dir = "?"
			}
		}
		if dir == "?" || !slices.Contains(linkKeys, name) {
			return c, fmt.Errorf("%w: %q: unknown key %q; the keys are %s, each also as up.KEY or down.KEY", ErrInvalidSpec, raw, key, keyNames())
		}
		if isFlag(name) && hasValue {
			return c, fmt.Errorf("%w: %q: %s takes no value; write just %s", ErrInvalidSpec, raw, name, key)
		}
		if !isFlag(name) && value == "" {
			return c, fmt.Errorf("%w: %q: %s needs a value, e.g. %s", ErrInvalidSpec, raw, key, exampleOf(key))
		}
		if dir == "" {
			both = append(both, kv{raw: raw, key: key, name: name, value: value})
		} else {
			one = append(one, kv{raw: raw, key: key, name: name, value: value, dir: dir})
		}
	}
	for _, it := range append(both, one...) {
		if it.dir != "down" {
			if err := setLink(&c.Up, it); err != nil {
				return Conditions{}, err
			}
		}
		if it.dir != "up" {
			if err := setLink(&c.Down, it); err != nil {
				return Conditions{}, err
			}
		}
	}
	if err := c.Validate(); err != nil {
		return Conditions{}, err
	}
	return c, nil
}

// kv is one key=value item.
type kv struct {
	raw, key, name, value string
	dir                   string // "", "up" or "down"
}

var linkKeys = []string{"delay", "jitter", "distribution", "reorder", "loss", "burst", "gemodel", "rate", "queue", "dup"}

func isFlag(name string) bool {
	_, n, ok := strings.Cut(name, ".")
	if !ok {
		n = name
	}
	return n == "reorder"
}

// isKey reports whether key is one of the keys, with or without a direction.
func isKey(key string) bool {
	if key == "seed" {
		return true
	}
	if d, name, ok := strings.Cut(key, "."); ok {
		return (d == "up" || d == "down") && slices.Contains(linkKeys, name)
	}
	return slices.Contains(linkKeys, key)
}

func keyNames() string { return strings.Join(append(slices.Clone(linkKeys), "seed"), ", ") }

func exampleOf(key string) string {
	_, name, ok := strings.Cut(key, ".")
	if !ok {
		name = key
	}
	ex := map[string]string{
		"delay": "40ms", "jitter": "10ms", "distribution": "normal", "loss": "2%", "burst": "3",
		"gemodel": "1%/30%/100%/0%", "rate": "500kbit", "queue": "50", "dup": "1%", "seed": "42",
	}
	return key + "=" + ex[name]
}

// setLink applies one item to l.
func setLink(l *Link, it kv) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: %q: %s", ErrInvalidSpec, it.raw, why)
	}
	switch it.name {
	case "delay", "jitter":
		d, err := parseDuration(it.value)
		if err != nil {
			return bad(err.Error() + ", e.g. " + exampleOf(it.key))
		}
		if d > MaxDelay {
			return bad(fmt.Sprintf("at most %v", MaxDelay))
		}
		if it.name == "delay" {
			l.Delay = d
		} else {
			l.Jitter = d
		}
	case "distribution":
		switch it.value {
		case "uniform":
			l.Distribution = Uniform
		case "normal":
			l.Distribution = Normal
		default:
			return bad("the distribution is uniform or normal")
		}
	case "reorder":
		l.Reorder = true
	case "loss", "dup":
		p, err := parsePercent(it.value)
		if err != nil {
			return bad(err.Error() + ", e.g. " + exampleOf(it.key))
		}
		if it.name == "loss" {
			l.Loss = p
		} else {
			l.Duplicate = p
		}
	case "burst":
		b, err := parseNumber(it.value)
		if err != nil || b < 1 || b > MaxBurst {
			return bad(fmt.Sprintf("the mean burst is a number of packets from 1 to %d, e.g. %s", MaxBurst, exampleOf(it.key)))
		}
		l.Burst = b
	case "gemodel":
		ge, err := parseGE(it.value)
		if err != nil {
			return bad(err.Error())
		}
		l.GE = &ge
	case "rate":
		r, err := parseRate(it.value)
		if err != nil {
			return bad(err.Error())
		}
		l.Rate = r
	case "queue":
		n, err := strconv.Atoi(it.value)
		if err != nil || n < 1 || n > MaxQueue {
			return bad(fmt.Sprintf("the queue is a number of packets from 1 to %d, e.g. %s", MaxQueue, exampleOf(it.key)))
		}
		l.Queue = n
	}
	return nil
}

// parseDuration reads a non-negative duration with a unit.
func parseDuration(s string) (time.Duration, error) {
	if _, err := parseNumber(s); err == nil {
		return 0, fmt.Errorf("give a unit (ms, s, us)")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a duration")
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative")
	}
	return d, nil
}

// parseNumber reads a plain decimal number: digits with at most one point.
// strconv.ParseFloat alone would also take "inf", "nan", hex and
// exponents, none of which belong in a --network value.
func parseNumber(s string) (float64, error) {
	if s == "" || strings.Count(s, ".") > 1 || strings.Trim(s, "0123456789.") != "" || strings.Trim(s, ".") == "" {
		return 0, fmt.Errorf("not a number")
	}
	return strconv.ParseFloat(s, 64)
}

// parsePercent reads "5%" or "0.5%".
func parsePercent(s string) (float64, error) {
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		if _, err := parseNumber(s); err == nil {
			return 0, fmt.Errorf("write it as a percentage with %%")
		}
		return 0, fmt.Errorf("not a percentage")
	}
	v, err := parseNumber(num)
	if err != nil {
		return 0, fmt.Errorf("not a percentage")
	}
	if v > 100 {
		return 0, fmt.Errorf("a percentage must be between 0%% and 100%%")
	}
	return v, nil
}

// parseGE reads P%[/R%[/1-H%[/1-K%]]], with netem's defaults for what is
// left out: R 100% (bursts of one packet), 1-H 100%, 1-K 0%.
func parseGE(s string) (GilbertElliott, error) {
	parts := strings.Split(s, "/")
	if len(parts) > 4 {
		return GilbertElliott{}, fmt.Errorf("gemodel has at most four figures, P/R/1-H/1-K, e.g. gemodel=1%%/30%%/100%%/0%%")
	}
	ge := GilbertElliott{R: 100, LossBad: 100}
	dst := []*float64{&ge.P, &ge.R, &ge.LossBad, &ge.LossGood}
	names := []string{"P", "R", "1-H", "1-K"}
	for i, p := range parts {
		v, err := parsePercent(strings.TrimSpace(p))
		if err != nil {
			return GilbertElliott{}, fmt.Errorf("gemodel %s %q: %v, e.g. gemodel=1%%/30%%/100%%/0%%", names[i], p, err)
		}
		*dst[i] = v
	}
	return ge, nil
}

var rateUnits = []struct {
	suffix string
	mult   float64
}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}}

// parseRate reads a rate with tc's bit units.
func parseRate(s string) (int64, error) {
	for _, u := range rateUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := parseNumber(num)
		if err != nil {
			break
		}
		bits := math.Round(v * u.mult)
		if bits < MinRate || bits > MaxRate {
			return 0, fmt.Errorf("the rate must be between %s and %s", formatRate(MinRate), formatRate(MaxRate))
		}
		return int64(bits), nil
	}
	if strings.HasSuffix(s, "bps") || strings.HasSuffix(s, "b/s") || strings.HasSuffix(s, "k") || strings.HasSuffix(s, "m") {
		return 0, fmt.Errorf("ambiguous unit (tc reads kbps as kilobytes per second); write bits per second as bit, kbit, mbit or gbit, e.g. rate=500kbit")
	}
	return 0, fmt.Errorf("not a rate; write bits per second as bit, kbit, mbit or gbit, e.g. rate=500kbit")
}

// formatRate writes bits per second in the largest unit that is exact.
func formatRate(bits int64) string {
	for _, u := range rateUnits {
		if m := int64(u.mult); bits%m == 0 && bits >= m {
			return strconv.FormatInt(bits/m, 10) + u.suffix
		}
	}
	return strconv.FormatInt(bits, 10) + "bit"
}

func formatPercent(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "%" }

// String writes c as Parse reads it: "none", or the items that differ from
// zero, unprefixed where both directions agree. Parse(c.String()) == c.
func (c Conditions) String() string {
	up, down := c.Up.items(), c.Down.items()
	var out []string
	for _, name := range linkKeys {
		u, d := up[name], down[name]
		switch {
		case u == d && u != "":
			out = append(out, u)
		case u != d:
			if u != "" {
				out = append(out, "up."+u)
			}
			if d != "" {
				out = append(out, "down."+d)
			}
		}
	}
	if c.Seed != 0 {
		out = append(out, "seed="+strconv.FormatUint(c.Seed, 10))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

// items are l's non-zero figures as key=value, by key.
func (l Link) items() map[string]string {
	m := map[string]string{}
	if l.Delay > 0 {
		m["delay"] = "delay=" + l.Delay.String()
	}
	if l.Jitter > 0 {
		m["jitter"] = "jitter=" + l.Jitter.String()
	}
	if l.Distribution != Uniform {
		m["distribution"] = "distribution=" + l.Distribution.String()
	}
	if l.Reorder {
		m["reorder"] = "reorder"
	}
	if l.Loss > 0 {
		m["loss"] = "loss=" + formatPercent(l.Loss)
	}
	if l.Burst > 0 {
		m["burst"] = "burst=" + strconv.FormatFloat(l.Burst, 'f', -1, 64)
	}
	if g := l.GE; g != nil {
		m["gemodel"] = "gemodel=" + strings.Join([]string{formatPercent(g.P), formatPercent(g.R), formatPercent(g.LossBad), formatPercent(g.LossGood)}, "/")
	}
	if l.Rate > 0 {
		m["rate"] = "rate=" + formatRate(l.Rate)
	}
	if l.Queue > 0 {
		m["queue"] = "queue=" + strconv.Itoa(l.Queue)
	}
	if l.Duplicate > 0 {
		m["dup"] = "dup=" + formatPercent(l.Duplicate)
	}
	return m
}
