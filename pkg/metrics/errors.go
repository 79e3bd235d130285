package metrics

import "errors"

// ErrListen means the metrics address could not be listened on.
var ErrListen = errors.New("cannot listen for metrics on")
