package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's
// times: 100 on every Linux Go supports.
const clockTicks = 100

// usage is what /proc says about a set of processes at a moment.
type usage struct {
	at      time.Time
	cpu     time.Duration // user + system, over the processes' lives
	rssKiB  int64
	pssKiB  int64
	process int
}

// statFields are the fields of /proc/<pid>/stat after the command name
// (the state is the first), nil if it cannot be read.
func statFields(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(data[i+1:]))
}

// cpuOf reads a process's user + system time.
func cpuOf(pid int) (time.Duration, bool) {
	f := statFields(pid)
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * time.Second / clockTicks, true
}

// ppidOf reads a process's parent.
func ppidOf(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return -1
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return n
}

// kib reads a "Name:  123 kB" line of a /proc file.
func kib(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// tree returns pid and every process descended from it.
func tree(pid int) []int {
	parents := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		parents[n] = ppidOf(n)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		for child, parent := range parents {
			if parent == out[i] {
				out = append(out, child)
			}
		}
	}
	return out
}

// measure sums the usage of pids (with their descendants when
// withChildren), now.
func measure(pids []int, withChildren bool) usage {
	u := usage{at: time.Now()}
	seen := map[int]bool{}
	for _, root := range pids {
		all := []int{root}
		if withChildren {
			all = tree(root)
		}
		for _, pid := range all {
			if seen[pid] {
				continue
			}
			seen[pid] = true
			c, ok := cpuOf(pid)
			if !ok {
				continue
			}
			u.process++
			u.cpu += c
			u.rssKiB += kib(fmt.Sprintf("/proc/%d/status", pid), "VmRSS")
			u.pssKiB += kib(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss")
		}
	}
	return u
}

// cores is the CPU used between two measurements, in cores.
func cores(a, b usage) float64 {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0
	}
	return (b.cpu - a.cpu).Seconds() / wall
}

// machine describes where the benchmarks ran.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := kib("/proc/meminfo", "MemTotal")
	kernel := "unknown kernel"
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + strings.TrimSpace(string(data))
	}
	virt := ""
	if data, err := os.ReadFile("/sys/class/dmi/id/sys_vendor"); err == nil {
		virt = ", " + strings.TrimSpace(string(data))
	}
	return fmt.Sprintf("%d × %s, %.1f GiB, %s%s, %s", runtime.NumCPU(), model, float64(mem)/(1<<20), kernel, virt, runtime.Version())
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
