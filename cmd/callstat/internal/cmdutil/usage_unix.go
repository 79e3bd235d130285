//go:build unix

package cmdutil

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
	peak := int64(ru.Maxrss) * 1024 //nolint:unconvert // int32 on some platforms // Linux and the BSDs: KiB
	if runtime.GOOS == "darwin" {
		peak = int64(ru.Maxrss) //nolint:unconvert // macOS: bytes
	}
	return Usage{CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), PeakRSSBytes: peak}
}
