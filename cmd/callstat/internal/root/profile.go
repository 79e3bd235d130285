package root

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Profiling for benchmarks (docs/BENCHMARKS.md): CALLSTAT_CPUPROFILE names
// a file for a CPU profile of the whole run, CALLSTAT_MEMPROFILE one for a
// heap profile taken at the end. Environment variables rather than flags:
// they are for measuring callstat, not for using it.
const (
	envCPUProfile = "CALLSTAT_CPUPROFILE"
	envMemProfile = "CALLSTAT_MEMPROFILE"
)

// startProfiles starts what the environment asks for; the returned
// function writes the profiles out.
func startProfiles(getenv func(string) string) (stop func(), err error) {
	cpuPath, memPath := getenv(envCPUProfile), getenv(envMemProfile)
	var cpu *os.File
	if cpuPath != "" {
		if cpu, err = os.Create(cpuPath); err != nil {
			return nil, fmt.Errorf("%s: %w", envCPUProfile, err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			_ = cpu.Close()
			return nil, fmt.Errorf("%s: %w", envCPUProfile, err)
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			_ = cpu.Close()
		}
		if memPath == "" {
			return
		}
		mem, err := os.Create(memPath)
		if err != nil {
			return
		}
		runtime.GC() // the heap as it is now, not as of the last GC
		_ = pprof.WriteHeapProfile(mem)
		_ = mem.Close()
	}, nil
}
