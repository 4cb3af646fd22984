// Command xds_load simulates many Envoys against an xDS server and measures
// how fast they get their configuration.
//
// Every node has its own connection and one ADS stream (state of the world
// or delta, -mode), reports its id (-node-prefix + %04d) and zone, and
// subscribes as Envoy does: clusters (wildcard), then the endpoints of their
// EDS clusters, then, once every cluster has endpoints, listeners
// (wildcard), then the route configurations their HTTP connection managers
// name; SDS secrets as clusters and listeners name them. Every response is
// ACKed.
//
// Figures (percentiles are nearest-rank):
//
//   - initial sync: per node, from the start of dialing until it holds a
//     complete config (clusters and listeners received, and every endpoint
//     set, route configuration and secret they reference);
//   - update: -update-cmd runs once all nodes are synced (and -updates
//     times in all, each once the previous change settled); per node whose
//     held content changed afterwards (responses that only repeat content do
//     not count), the time from the change (the command's last stdout line,
//     Unix ns) to the last response that changed something; an update is
//     over after -settle without changes. Latencies of all updates are
//     pooled; bytes and CPU are per update (CPU is read in clock ticks of
//     10 ms, so several updates give a finer figure); -before-updates runs
//     a command first (e.g. one that waits until the server is done with
//     start-up work), and the update figures start when it returns;
//   - bytes received per phase (protobuf size of the responses), and with
//     -pid the server's CPU seconds per phase and its peak RSS (VmHWM).
//
// Example:
//
//	xds_load -server 127.0.0.1:18000 -nodes 1000 -mode delta \
//	    -update-cmd "python3 bench/workload.py update --dir W --kind endpoint" \
//	    -expect-affected 100 -pid 1234 -json out.json
//
// With -stuck N, N more streams ask for every cluster and load assignment
// and never read, so the server holds responses it cannot write; the
// figures then show what such clients cost the others.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

type config struct {
	server         string
	nodes          int
	nodePrefix     string
	zones          []string
	delta          bool
	syncTimeout    time.Duration
	updateCmd      string
	beforeUpdates  string
	updates        int
	expectAffected int // -1: not checked
	settle         time.Duration
	updateTimeout  time.Duration
	dumpBefore     string
	dumpAfter      string
	verify         string
	pid            int // 0: no server process to watch
	jsonPath       string
	stuck          int // extra streams that never read (runStuck)
}

func (c *config) mode() string {
	if c.delta {
		return "delta"
	}
	return "sotw"
}

func (c *config) nodeID(i int) string { return fmt.Sprintf("%s%04d", c.nodePrefix, i) }

func parseFlags(args []string, errOut io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("xds_load", flag.ContinueOnError)
	// Errors are reported once, by the caller; -h prints the flags.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(errOut)
		fmt.Fprintln(errOut, "usage: xds_load -server HOST:PORT [flags]")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.server, "server", "", "xDS server `HOST:PORT` (required)")
	fs.IntVar(&c.nodes, "nodes", 1, "number of simulated Envoys")
	fs.StringVar(&c.nodePrefix, "node-prefix", "node-", "node id prefix; ids are prefix + %04d")
	zones := fs.String("zones", "zone-a,zone-b", "comma-separated zones; node i gets zones[i % len]")
	mode := fs.String("mode", "sotw", "ADS variant: sotw or delta")
	fs.DurationVar(&c.syncTimeout, "sync-timeout", 120*time.Second, "all nodes must hold a complete config by then")
	fs.StringVar(&c.updateCmd, "update-cmd", "", "shell command run once all nodes are synced; the last line of its stdout may give the change time in Unix ns")
	fs.StringVar(&c.beforeUpdates, "before-updates", "", "shell command run once all nodes are synced, before the first -update-cmd; the update figures (CPU included) start when it returns, so it can wait for the server to finish start-up work")
	fs.IntVar(&c.updates, "updates", 1, "run -update-cmd this many times, each once the previous change settled; latencies pool, bytes and CPU are per update")
	fs.IntVar(&c.expectAffected, "expect-affected", -1, "fail unless exactly this many nodes receive changed resources after the update")
	fs.DurationVar(&c.settle, "settle", 2*time.Second, "the update is over when no node received a changed resource for this long")
	fs.DurationVar(&c.updateTimeout, "update-timeout", 60*time.Second, "give up waiting for the update to settle after this long")
	fs.StringVar(&c.dumpBefore, "dump-before", "", "write each node's resources after the initial sync to `DIR`")
	fs.StringVar(&c.dumpAfter, "dump-after", "", "write each node's resources after the update to `DIR`")
	fs.StringVar(&c.verify, "verify", "", "check every node holds exactly what the dump in `DIR` says (after the update, or after the initial sync without one)")
	fs.IntVar(&c.pid, "pid", 0, "server process whose CPU time and peak RSS are reported")
	fs.StringVar(&c.jsonPath, "json", "", "write the figures as JSON to `FILE`")
	fs.IntVar(&c.stuck, "stuck", 0, "extra SotW streams (node ids of the first nodes) that ask for every cluster and load assignment and never read; not part of the figures")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%v (-h lists the flags)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (all options are flags)", fs.Arg(0))
	}

	if c.server == "" {
		return nil, errors.New("-server is required")
	}
	if _, port, err := net.SplitHostPort(c.server); err != nil {
		return nil, fmt.Errorf("-server %q: %v", c.server, err)
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("-server %q: port must be 1-65535", c.server)
	}
	if c.nodes < 1 {
		return nil, fmt.Errorf("-nodes %d: must be at least 1", c.nodes)
	}
	for _, z := range strings.Split(*zones, ",") {
		if z = strings.TrimSpace(z); z == "" {
			return nil, fmt.Errorf("-zones %q: empty zone name", *zones)
		}
		c.zones = append(c.zones, strings.TrimSpace(z))
	}
	switch *mode {
	case "sotw":
	case "delta":
		c.delta = true
	default:
		return nil, fmt.Errorf("-mode %q: must be sotw or delta", *mode)
	}
	for name, d := range map[string]time.Duration{"-sync-timeout": c.syncTimeout, "-settle": c.settle, "-update-timeout": c.updateTimeout} {
		if d <= 0 {
			return nil, fmt.Errorf("%s %v: must be positive", name, d)
		}
	}
	if c.updates < 1 {
		return nil, fmt.Errorf("-updates %d: must be at least 1", c.updates)
	}
	if c.updates > 1 && c.updateCmd == "" {
		return nil, errors.New("-updates needs -update-cmd")
	}
	if c.expectAffected < -1 {
		return nil, fmt.Errorf("-expect-affected %d: must not be negative", c.expectAffected)
	}
	if c.expectAffected >= 0 && c.updateCmd == "" {
		return nil, errors.New("-expect-affected needs -update-cmd")
	}
	if c.beforeUpdates != "" && c.updateCmd == "" {
		return nil, errors.New("-before-updates needs -update-cmd")
	}
	if c.dumpAfter != "" && c.updateCmd == "" {
		return nil, errors.New("-dump-after needs -update-cmd (use -dump-before without an update)")
	}
	if c.stuck < 0 {
		return nil, fmt.Errorf("-stuck %d: must not be negative", c.stuck)
	}
	if c.pid < 0 {
		return nil, fmt.Errorf("-pid %d: must be positive", c.pid)
	}
	if c.pid > 0 {
		if _, err := serverCPUSeconds(c.pid); err != nil {
			return nil, fmt.Errorf("-pid: %v", err)
		}
	}
	if c.verify != "" {
		if st, err := os.Stat(c.verify); err != nil {
			return nil, fmt.Errorf("-verify: %v", err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("-verify %q: not a directory", c.verify)
		}
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "xds_load: %v\n", err)
		os.Exit(2)
	}
	if !execute(cfg, os.Stdout) {
		os.Exit(1)
	}
}
