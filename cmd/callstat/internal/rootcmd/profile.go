package rootcmd

import (
	"fmt"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// Profiling for benchmarks (docs/BENCHMARKS.md): CALLSTAT_CPUPROFILE names
// a file for a CPU profile of the whole run, CALLSTAT_MEMPROFILE one for a
// heap profile taken at the end, and CALLSTAT_PPROF_ADDR (a loopback
// address such as 127.0.0.1:6060) serves net/http/pprof while the process
// runs, for heap profiles with calls up. Environment variables rather than
// flags: they are for measuring callstat, not for using it.
const (
	envCPUProfile = "CALLSTAT_CPUPROFILE"
	envMemProfile = "CALLSTAT_MEMPROFILE"
	envPprofAddr  = "CALLSTAT_PPROF_ADDR"
)

// startProfiles starts what the environment asks for; the returned
// function writes the profiles out.
func startProfiles(getenv func(string) string) (stop func(), err error) {
	cpuPath, memPath := getenv(envCPUProfile), getenv(envMemProfile)
	stopServer, err := servePprof(getenv(envPprofAddr))
	if err != nil {
		return nil, err
	}
	var cpu *os.File
	if cpuPath != "" {
		if cpu, err = os.Create(cpuPath); err != nil {
			stopServer()
			return nil, fmt.Errorf("%s: %w", envCPUProfile, err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			_ = cpu.Close()
			stopServer()
			return nil, fmt.Errorf("%s: %w", envCPUProfile, err)
		}
	}
	return func() {
		stopServer()
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

// servePprof serves net/http/pprof on addr ("" for none) until the
// returned function is called. Only loopback addresses are accepted: the
// profiles show the process's memory.
func servePprof(addr string) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s=%q: want a loopback address and port, e.g. 127.0.0.1:6060", envPprofAddr, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envPprofAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}
