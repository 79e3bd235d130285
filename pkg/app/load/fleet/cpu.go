package fleet

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// cpus is how many CPUs this process may use.
func cpus() int { return runtime.GOMAXPROCS(0) }

// idleShare measures the share of the machine's CPU time that was idle
// over d (Linux /proc/stat; 1 where it cannot be read): the short
// calibration an agent's weight comes from.
func idleShare(d time.Duration) float64 {
	idle0, total0, ok := cpuTimes()
	if !ok {
		return 1
	}
	time.Sleep(d)
	idle1, total1, ok := cpuTimes()
	if !ok || total1 <= total0 {
		return 1
	}
	return min(max((idle1-idle0)/(total1-total0), 0), 1)
}

func cpuTimes() (idle, total float64, ok bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, false
	}
	for i, f := range fields[1:] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return idle, total, true
}
