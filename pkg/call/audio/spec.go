// Package audio provides the local audio that calls send: sources captured
// through pion/mediadevices (synthetic drivers registered with its driver
// manager, and later the microphone) encoded once to Opus and fanned out to
// every call of the process.
package audio

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind names a source kind.
type Kind string

// Source kinds accepted by --audio.
const (
	KindTone    Kind = "tone"
	KindSilence Kind = "silence"
)

// DefaultToneHz is the frequency of "tone" without a frequency.
const DefaultToneHz = 440

// ErrBadSpec is returned for an --audio value that cannot be parsed.
var ErrBadSpec = errors.New("invalid audio source")

// Spec says which audio a phone sends: "tone", "tone:1000", "silence".
type Spec struct {
	Kind Kind
	Hz   float64 // tone frequency
}

func (s Spec) String() string {
	switch s.Kind {
	case KindTone:
		return "tone:" + strconv.FormatFloat(s.Hz, 'f', -1, 64)
	default:
		return string(s.Kind)
	}
}

// ParseSpec parses an --audio value.
func ParseSpec(v string) (Spec, error) {
	kind, arg, hasArg := strings.Cut(strings.TrimSpace(v), ":")
	switch Kind(kind) {
	case KindTone:
		s := Spec{Kind: KindTone, Hz: DefaultToneHz}
		if hasArg {
			hz, err := strconv.ParseFloat(arg, 64)
			if err != nil || hz < 20 || hz > 20000 {
				return Spec{}, fmt.Errorf("%w %q: the tone frequency must be a number of Hz between 20 and 20000", ErrBadSpec, v)
			}
			s.Hz = hz
		}
		return s, nil
	case KindSilence:
		if hasArg {
			return Spec{}, fmt.Errorf("%w %q: silence takes no argument", ErrBadSpec, v)
		}
		return Spec{Kind: KindSilence}, nil
	default:
		return Spec{}, fmt.Errorf("%w %q: use tone[:Hz] or silence", ErrBadSpec, v)
	}
}
