// Package audio provides the audio of calls. Sending: sources captured
// through pion/mediadevices (the microphone, a WAV file, a tone or silence,
// each a driver registered with its driver manager) encoded once to Opus and
// fanned out to every call of the process. Receiving: an Opus decoder that
// measures what was heard (the W3C inbound-rtp audio fields) and can record
// it to a WAV file.
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
	KindMic     Kind = "mic"
	KindFile    Kind = "file"
	KindTone    Kind = "tone"
	KindSilence Kind = "silence"
)

// DefaultToneHz is the frequency of "tone" without a frequency.
const DefaultToneHz = 440

// DefaultSpec is what --audio sends when not given: the microphone, as a
// softphone does.
const DefaultSpec = "mic"

// ErrBadSpec is returned for an --audio value that cannot be parsed.
var ErrBadSpec = errors.New("invalid audio source")

// Spec says which audio a phone sends: "mic", "mic:<device>",
// "file:<path.wav>", "tone", "tone:1000", "silence".
type Spec struct {
	Kind   Kind
	Hz     float64 // tone frequency
	Device string  // mic: device id or name; empty for the default device
	Path   string  // file: WAV file path
}

func (s Spec) String() string {
	switch s.Kind {
	case KindTone:
		return "tone:" + strconv.FormatFloat(s.Hz, 'f', -1, 64)
	case KindMic:
		if s.Device != "" {
			return "mic:" + s.Device
		}
		return "mic"
	case KindFile:
		return "file:" + s.Path
	default:
		return string(s.Kind)
	}
}

// ParseSpec parses an --audio value. It checks the syntax only: whether a
// device or file is usable is known when the source is opened.
func ParseSpec(v string) (Spec, error) {
	kind, arg, hasArg := strings.Cut(strings.TrimSpace(v), ":")
	switch Kind(kind) {
	case KindMic:
		if hasArg && strings.TrimSpace(arg) == "" {
			return Spec{}, fmt.Errorf("%w %q: give a device after mic: (see 'callstat devices'), or plain mic for the default device", ErrBadSpec, v)
		}
		return Spec{Kind: KindMic, Device: strings.TrimSpace(arg)}, nil
	case KindFile:
		if strings.TrimSpace(arg) == "" {
			return Spec{}, fmt.Errorf("%w %q: give a WAV file, e.g. file:speech.wav", ErrBadSpec, v)
		}
		return Spec{Kind: KindFile, Path: arg}, nil
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
		return Spec{}, fmt.Errorf("%w %q: use mic[:device], file:PATH.wav, tone[:Hz] or silence", ErrBadSpec, v)
	}
}
