package audio

import "github.com/gen2brain/malgo"

// audioBackends are tried in order. PulseAudio (or PipeWire's PulseAudio
// server) first, then plain ALSA. JACK is left out: a softphone does not
// need it, and probing it prints errors when no JACK server runs.
var audioBackends = []malgo.Backend{malgo.BackendPulseaudio, malgo.BackendAlsa}
