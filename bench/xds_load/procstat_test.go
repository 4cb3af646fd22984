package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseStatCPUTicks(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "1234 (we (ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 8 0 12345 1000 200 18446744073709551615"
	got, err := parseStatCPUTicks(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 281 {
		t.Fatalf("got %d ticks, want 250+31", got)
	}
}

func TestParseStatCPUTicksErrors(t *testing.T) {
	for _, stat := range []string{
		"",
		"1234 no parenthesis S 1",
		"1234 (short) S 1 2 3",
		"1234 (bad) S 1 1234 1234 0 -1 4194560 100 0 0 0 x 31 0",
	} {
		if _, err := parseStatCPUTicks(stat); err == nil {
			t.Errorf("%q: no error", stat)
		}
	}
}

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tpropsy\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40000 kB\n"
	got, err := parseVmHWMKiB(status)
	if err != nil || got != 51200 {
		t.Fatalf("got %d, %v", got, err)
	}
	if _, err := parseVmHWMKiB("Name:\tkthreadd\n"); err == nil {
		t.Error("missing VmHWM: no error")
	}
	if _, err := parseVmHWMKiB("VmHWM:\t12 MB\n"); err == nil {
		t.Error("unexpected unit: no error")
	}
}

func TestOwnProcess(t *testing.T) {
	pid := os.Getpid()
	if _, err := serverCPUSeconds(pid); err != nil {
		t.Fatal(err)
	}
	rss, err := serverPeakRSSMB(pid)
	if err != nil || rss <= 0 {
		t.Fatalf("peak RSS %v, %v", rss, err)
	}
	if _, err := serverCPUSeconds(1 << 30); err == nil || !strings.Contains(err.Error(), "server process") {
		t.Fatalf("missing process: %v", err)
	}
}
