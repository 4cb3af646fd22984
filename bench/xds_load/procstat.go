package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicksPerSecond is USER_HZ, the unit of utime and stime in
// /proc/PID/stat. Linux fixes it at 100 on every architecture Go supports
// (the kernel's internal HZ may differ, but is never exposed there).
const clockTicksPerSecond = 100

// serverCPUSeconds returns the CPU time (user + system) the process used.
func serverCPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("server process %d: %w", pid, err)
	}
	ticks, err := parseStatCPUTicks(string(data))
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return float64(ticks) / clockTicksPerSecond, nil
}

// serverPeakRSSMB returns the process's peak resident set size (VmHWM).
func serverPeakRSSMB(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("server process %d: %w", pid, err)
	}
	kb, err := parseVmHWMKiB(string(data))
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return float64(kb) / 1024, nil
}

// parseStatCPUTicks returns utime + stime from the content of
// /proc/PID/stat. The command name (field 2) is in parentheses and may
// itself contain spaces and parentheses, so fields are counted after the
// last ')'.
func parseStatCPUTicks(stat string) (uint64, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("no command name in %q", truncate(stat, 80))
	}
	// After the name: field 3 (state) is index 0, so utime (field 14) is
	// index 11 and stime (field 15) index 12.
	fields := strings.Fields(stat[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("only %d fields after the command name", len(fields))
	}
	utime, err := strconv.ParseUint(fields[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime %q: %w", fields[11], err)
	}
	stime, err := strconv.ParseUint(fields[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime %q: %w", fields[12], err)
	}
	return utime + stime, nil
}

// parseVmHWMKiB returns the VmHWM line of /proc/PID/status in KiB.
func parseVmHWMKiB(status string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmHWM line %q", line)
		}
		return strconv.ParseUint(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("no VmHWM line (a kernel thread or a zombie process?)")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
