package main

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsRejectsBadInput(t *testing.T) {
	cases := map[string][]string{
		"-server is required":   {},
		"port must be":          {"-server", "127.0.0.1:0"},
		"missing port":          {"-server", "localhost"},
		"-nodes 0":              {"-server", "h:1", "-nodes", "0"},
		"empty zone":            {"-server", "h:1", "-zones", "a,,b"},
		"must be sotw or delta": {"-server", "h:1", "-mode", "incremental"},
		"-settle":               {"-server", "h:1", "-settle", "0s"},
		"needs -update-cmd":     {"-server", "h:1", "-expect-affected", "3"},
		"unexpected argument":   {"-server", "h:1", "extra"},
		"-verify":               {"-server", "h:1", "-verify", "/nonexistent/dump"},
		"-pid":                  {"-server", "h:1", "-pid", "1073741824"},
		"-dump-after needs":     {"-server", "h:1", "-dump-after", "/tmp/x"},
		"-updates 0":            {"-server", "h:1", "-update-cmd", "true", "-updates", "0"},
		"-updates needs":        {"-server", "h:1", "-updates", "2"},
		"-before-updates needs": {"-server", "h:1", "-before-updates", "true"},
	}
	for want, args := range cases {
		_, err := parseFlags(args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: got %v, want an error containing %q", args, err, want)
		}
	}
	c, err := parseFlags([]string{"--server=h:1", "-nodes", "3", "-mode", "delta", "-zones", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.delta || c.nodeID(2) != "node-0002" || len(c.zones) != 1 || c.expectAffected != -1 {
		t.Fatalf("got %+v", c)
	}
}

func TestChangeTime(t *testing.T) {
	started := time.Now()
	now := time.Now().UnixNano()
	t0, fromCmd, err := changeTime("changed 3 nodes\n", started)
	if err != nil || fromCmd || !t0.Equal(started) {
		t.Fatalf("non-integer last line: %v %v %v", t0, fromCmd, err)
	}
	t0, fromCmd, err = changeTime("info\n"+strconv.FormatInt(now, 10)+"\n\n", started)
	if err != nil || !fromCmd || t0.UnixNano() != now {
		t.Fatalf("integer last line: %v %v %v", t0, fromCmd, err)
	}
	if _, _, err = changeTime(strconv.FormatInt(now/1e9, 10), started); err == nil {
		t.Fatal("seconds accepted as nanoseconds")
	}
	if _, fromCmd, _ = changeTime("", started); fromCmd {
		t.Fatal("empty output gave a change time")
	}
}
