package netem

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestProfiles(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Profiles() {
		if p.Name != strings.ToLower(p.Name) || strings.ContainsAny(p.Name, ",= .") || seen[p.Name] {
			t.Errorf("profile name %q: want unique, lower case, no separators", p.Name)
		}
		seen[p.Name] = true
		if err := p.Conditions.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if p.Name != "none" && (!p.Conditions.Active() || p.Source == "" || p.Summary == "") {
			t.Errorf("%s: no conditions, source or summary", p.Name)
		}
		got, err := Parse(p.Name)
		if err != nil || !equal(got, p.Conditions) {
			t.Errorf("Parse(%q) = %s, %v; want the profile %s", p.Name, got, err, p.Conditions)
		}
	}
	if _, ok := LookupProfile("LOSSY-WIFI"); !ok {
		t.Error("profile names are not case-insensitive")
	}
	// Profiles returns a copy.
	Profiles()[0].Name = "changed"
	if Profiles()[0].Name == "changed" {
		t.Error("Profiles let its caller change a profile")
	}
}

// profileTable is the profiles table of docs/network.md.
func profileTable() string {
	rows := []string{
		"| Profile | Network | Delay each way | Jitter (down / up) | Loss each way | Rate down / up | Source |",
		"| --- | --- | --- | --- | --- | --- | --- |",
	}
	pair := func(down, up string) string {
		if down == up {
			return down
		}
		return down + " / " + up
	}
	for _, p := range Profiles() {
		c := p.Conditions
		dash := func(s string) string {
			if s == "" || s == "0s" {
				return "–"
			}
			return s
		}
		jitter := func(l Link) string {
			if l.Jitter == 0 {
				return ""
			}
			return "±" + l.Jitter.String()
		}
		loss := func(l Link) string {
			switch {
			case l.Loss == 0:
				return ""
			case l.Burst > 0:
				return formatPercent(l.Loss) + " in bursts of " + formatFloat(l.Burst)
			default:
				return formatPercent(l.Loss)
			}
		}
		rate := func(l Link) string {
			if l.Rate == 0 {
				return "–"
			}
			return formatRate(l.Rate)
		}
		rates := pair(rate(c.Down), rate(c.Up))
		if c.Up.Rate == 0 && c.Down.Rate == 0 {
			rates = "–"
		}
		source := p.Source
		if source == "" {
			source = "–"
		}
		rows = append(rows, "| `"+p.Name+"` | "+p.Summary+" | "+dash(pair(c.Down.Delay.String(), c.Up.Delay.String()))+
			" | "+dash(pair(jitter(c.Down), jitter(c.Up)))+" | "+dash(pair(loss(c.Down), loss(c.Up)))+
			" | "+rates+" | "+source+" |")
	}
	return strings.Join(rows, "\n")
}

func formatFloat(v float64) string { return strings.TrimSuffix(formatPercent(v), "%") }

// section is the text of docs/network.md between <!-- name --> and
// <!-- /name -->.
func section(t *testing.T, name string) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/network.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	start, end := strings.Index(s, "<!-- "+name+" -->"), strings.Index(s, "<!-- /"+name+" -->")
	if start < 0 || end < start {
		t.Fatalf("docs/network.md has no %q section", name)
	}
	return strings.TrimSpace(s[start+len("<!-- "+name+" -->") : end])
}

// The documented profiles are the code's.
func TestProfilesDocumented(t *testing.T) {
	if got, want := section(t, "profiles"), profileTable(); got != want {
		t.Errorf("docs/network.md's profile table is out of date; it should read:\n\n%s", want)
	}
}

// Every --network value the documentation gives parses (and every one it
// gives as wrong fails with the error it shows).
func TestDocumentedExamples(t *testing.T) {
	code := regexp.MustCompile("`--network ([^`]+)`")
	examples := code.FindAllStringSubmatch(section(t, "examples"), -1)
	if len(examples) < 5 {
		t.Fatalf("only %d examples found", len(examples))
	}
	for _, m := range examples {
		if _, err := Parse(m[1]); err != nil {
			t.Errorf("documented example %q: %v", m[1], err)
		}
	}
	bad := regexp.MustCompile(`(?m)^--network (\S+)\n(invalid network conditions: .*)$`)
	errs := bad.FindAllStringSubmatch(section(t, "errors"), -1)
	if len(errs) < 3 {
		t.Fatalf("only %d error examples found", len(errs))
	}
	for _, m := range errs {
		_, err := Parse(m[1])
		if !errors.Is(err, ErrInvalidSpec) || err.Error() != m[2] {
			t.Errorf("documented error for %q:\n got %v\nwant %s", m[1], err, m[2])
		}
	}
}
