package app

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Resources is what a long-running process holds, logged by Answer after
// every call so that a soak can see leaks ("process resources" at debug).
type Resources struct {
	Goroutines int
	OpenFDs    int   // -1 where /proc is missing
	RSSBytes   int64 // -1 where /proc is missing
}

// ProcessResources measures this process.
func ProcessResources() Resources {
	r := Resources{Goroutines: runtime.NumGoroutine(), OpenFDs: -1, RSSBytes: -1}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		r.OpenFDs = len(fds) - 1 // the descriptor ReadDir itself had open
	}
	// statm: size resident shared ..., in pages.
	if data, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				r.RSSBytes = pages * int64(os.Getpagesize())
			}
		}
	}
	return r
}

// LogAttrs are r as log attributes.
func (r Resources) LogAttrs() []any {
	return []any{"goroutines", r.Goroutines, "openFDs", r.OpenFDs, "rssBytes", r.RSSBytes}
}

// Usage is the CPU time a process has used and its peak resident memory.
type Usage struct {
	CPU          time.Duration // user + system
	PeakRSSBytes int64         // -1 where unknown
}
