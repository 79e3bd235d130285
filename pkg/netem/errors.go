package netem

import "errors"

// ErrInvalidSpec is wrapped by every error about conditions that cannot
// be applied: a --network value that does not parse, a figure out of
// range. The message names the part at fault and how to write it.
var ErrInvalidSpec = errors.New("invalid network conditions")
