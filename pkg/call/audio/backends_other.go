//go:build !linux

package audio

import "github.com/gen2brain/malgo"

// audioBackends: miniaudio's default order for the platform.
var audioBackends []malgo.Backend
