//go:build unix

package app

import (
	"runtime"
	"syscall"
	"time"
)

// ProcessUsage measures this process's CPU time and peak RSS.
func ProcessUsage() Usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Usage{PeakRSSBytes: -1}
	}
	// Maxrss is in KiB on Linux and the BSDs, in bytes on macOS; it is an
	// int32 on some platforms, hence the conversions.
	peak := int64(ru.Maxrss) * 1024 //nolint:unconvert // see above
	if runtime.GOOS == "darwin" {
		peak = int64(ru.Maxrss) //nolint:unconvert // see above
	}
	return Usage{CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), PeakRSSBytes: peak}
}
