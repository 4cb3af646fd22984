package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// progressEvery is how often waiting phases report progress on stderr.
const progressEvery = 5 * time.Second

// maxListed bounds how many nodes or differences an error lists.
const maxListed = 10

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "xds_load: "+format+"\n", args...)
}

// execute runs the whole measurement and prints the report; it returns
// false when the run failed (the reason is on stderr).
func execute(cfg *config, out io.Writer) bool {
	l := newLoad(cfg.server, cfg.delta, cfg.nodes)
	nodes := make([]*node, cfg.nodes)
	for i := range nodes {
		nodes[i] = newNode(l, cfg.nodeID(i), cfg.zones[i%len(cfg.zones)])
	}
	res := &results{cfg: cfg}
	cpuStart := sampleCPU(cfg.pid)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i := 0; i < cfg.stuck; i++ {
		id, zone := cfg.nodeID(i%cfg.nodes), cfg.zones[i%cfg.nodes%len(cfg.zones)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runStuck(ctx, cfg.server, id, zone); err != nil && ctx.Err() == nil {
				logf("stuck stream of %s: %v", id, err)
			}
		}()
	}
	if cfg.stuck > 0 {
		logf("%d streams that never read", cfg.stuck)
	}
	logf("%d nodes connecting to %s (%s)", len(nodes), cfg.server, cfg.mode())
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.run(ctx)
		}()
	}

	if !waitSync(l, nodes, cfg.syncTimeout) {
		return false
	}
	cpuSynced := sampleCPU(cfg.pid)
	res.initial = phaseFigures(syncTimes(nodes), l.bytes[0].Load(), cpuStart, cpuSynced)
	logf("all %d nodes synced", len(nodes))
	if cfg.dumpBefore != "" {
		if err := writeDump(cfg.dumpBefore, nodes); err != nil {
			logf("-dump-before: %v", err)
			return false
		}
	}

	ok := true
	cpuBeforeUpdates := cpuSynced
	if cfg.beforeUpdates != "" {
		started := time.Now()
		cmd := exec.Command("sh", "-c", cfg.beforeUpdates)
		cmd.Stdout = os.Stderr
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			logf("-before-updates %q: %v", cfg.beforeUpdates, err)
			return false
		}
		logf("-before-updates took %.1f s", time.Since(started).Seconds())
		cpuBeforeUpdates = sampleCPU(cfg.pid)
	}
	if cfg.updateCmd != "" {
		ok = runUpdate(cfg, l, nodes, res, cpuBeforeUpdates)
	}
	if cfg.verify != "" {
		diffs := verifyDump(cfg.verify, nodes)
		if len(diffs) > 0 {
			logf("-verify: %d differences from %s:", len(diffs), cfg.verify)
			for _, d := range diffs[:min(len(diffs), maxListed)] {
				logf("  %s", d)
			}
			ok = false
		} else {
			logf("-verify: every node holds exactly the resources of %s", cfg.verify)
		}
	}
	if failures, first := l.failureSummary(); failures > 0 {
		logf("%d node streams failed; first: %v", failures, first)
		ok = false
	}
	if cfg.pid > 0 {
		if rss, err := serverPeakRSSMB(cfg.pid); err == nil {
			rss = round(rss, 1)
			res.peakRSSMB = &rss
		} else {
			logf("peak RSS: %v", err)
		}
	}
	res.print(out)
	if cfg.jsonPath != "" {
		if err := res.writeJSON(cfg.jsonPath); err != nil {
			logf("-json: %v", err)
			ok = false
		}
	}
	return ok
}

// waitSync waits until every node holds a complete config. It fails fast
// when a node's stream fails, and on timeout names what nodes are missing.
func waitSync(l *load, nodes []*node, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	progress := time.NewTicker(progressEvery)
	defer progress.Stop()
	done := map[*node]bool{}
	for len(done) < len(nodes) {
		select {
		case n := <-l.completed:
			done[n] = true
		case <-l.failed:
			failures, first := l.failureSummary()
			logf("%d node streams failed during the initial sync; first: %v", failures, first)
			return false
		case <-progress.C:
			logf("%d of %d nodes synced", len(done), len(nodes))
		case <-deadline.C:
			var pending []*node
			for _, n := range nodes {
				if !done[n] {
					pending = append(pending, n)
				}
			}
			logf("%d of %d nodes not complete after %v:", len(pending), len(nodes), timeout)
			for _, n := range pending[:min(len(pending), maxListed)] {
				logf("  %s", n.missing())
			}
			return false
		}
	}
	return true
}

func syncTimes(nodes []*node) []time.Duration {
	out := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		out[i] = n.syncTime()
	}
	return out
}

// runUpdate runs the update command cfg.updates times, each once the
// previous change has settled, and books the update figures: latencies of
// every affected node over all updates, and bytes and server CPU per
// update. -dump-after is written after the first update. It returns false
// when an update failed or reached other than the expected node count.
func runUpdate(cfg *config, l *load, nodes []*node, res *results, cpuBefore *float64) bool {
	l.updating.Store(true)
	var latencies []time.Duration
	affectedFirst := -1
	ok := true
	for k := 1; k <= cfg.updates && ok; k++ {
		for _, n := range nodes {
			n.resetUpdate()
		}
		l.affected.Store(0)
		var reached []time.Duration
		reached, ok = runOneUpdate(cfg, l, nodes)
		latencies = append(latencies, reached...)
		if affectedFirst < 0 {
			affectedFirst = len(reached)
		}
		if cfg.updates > 1 {
			logf("update %d of %d reached %d nodes", k, cfg.updates, len(reached))
		}
		if k == 1 && cfg.dumpAfter != "" {
			if err := writeDump(cfg.dumpAfter, nodes); err != nil {
				logf("-dump-after: %v", err)
				ok = false
			}
		}
	}
	cpuAfter := sampleCPU(cfg.pid)
	res.update = phaseFigures(latencies, l.bytes[1].Load()/int64(cfg.updates), cpuBefore, cpuAfter)
	if res.update.CPUs != nil {
		perUpdate := round(*res.update.CPUs/float64(cfg.updates), 4)
		res.update.CPUs = &perUpdate
	}
	res.update.Affected = &affectedFirst
	res.update.Updates = cfg.updates
	return ok
}

// runOneUpdate runs the update command once and waits until the change
// has settled; it returns each affected node's latency and false when the
// update failed or the affected node count is not the expected one.
func runOneUpdate(cfg *config, l *load, nodes []*node) ([]time.Duration, bool) {
	started := time.Now()
	cmd := exec.Command("sh", "-c", cfg.updateCmd)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	finished := time.Now()
	if err != nil {
		logf("-update-cmd %q: %v", cfg.updateCmd, err)
		return nil, false
	}
	t0, fromCmd, err := changeTime(stdout.String(), started)
	if err != nil {
		logf("-update-cmd %q: %v", cfg.updateCmd, err)
		return nil, false
	}
	if !fromCmd {
		logf("update command printed no change time; measuring from its start")
	}

	settled := waitSettle(cfg, l, finished, started)
	var latencies []time.Duration
	for _, n := range nodes {
		if d, changed := n.updateLatency(t0); changed {
			latencies = append(latencies, d)
		}
	}
	affected := len(latencies)
	switch {
	case cfg.expectAffected >= 0 && affected < cfg.expectAffected:
		logf("only %d of the expected %d nodes received changed resources within -update-timeout %v",
			affected, cfg.expectAffected, cfg.updateTimeout)
		return latencies, false
	case cfg.expectAffected >= 0 && affected > cfg.expectAffected:
		logf("%d nodes received changed resources, expected %d", affected, cfg.expectAffected)
		return latencies, false
	case !settled:
		logf("changes kept arriving: no quiet -settle %v within -update-timeout %v", cfg.settle, cfg.updateTimeout)
		return latencies, false
	}
	return latencies, true
}

// waitSettle waits until no node received a changed resource for
// cfg.settle (and, with -expect-affected, at least that many nodes were
// reached, so a slow server is not mistaken for a quiet one). It reports
// false when -update-timeout cut the wait short.
func waitSettle(cfg *config, l *load, finished, started time.Time) (settled bool) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	lastProgress := time.Now()
	for now := range tick.C {
		if failures, _ := l.failureSummary(); failures > 0 {
			return true // reported as a failure by the caller
		}
		if now.Sub(started) >= cfg.updateTimeout {
			return false
		}
		affected := int(l.affected.Load())
		if now.Sub(lastProgress) >= progressEvery {
			logf("update: %d nodes changed so far", affected)
			lastProgress = now
		}
		if cfg.expectAffected >= 0 && affected < cfg.expectAffected {
			continue
		}
		quietSince := finished
		if last := l.lastChange.Load(); last > finished.UnixNano() {
			quietSince = time.Unix(0, last)
		}
		if now.Sub(quietSince) >= cfg.settle {
			return true
		}
	}
	return true
}

// changeTime reads the change time from the update command's output: its
// last non-empty line, when that is an integer, in Unix ns. Otherwise the
// command's start time is used (fromCmd false).
func changeTime(stdout string, started time.Time) (t0 time.Time, fromCmd bool, err error) {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	ns, perr := strconv.ParseInt(last, 10, 64)
	if perr != nil {
		return started, false, nil
	}
	t0 = time.Unix(0, ns)
	// A time far from now is a unit mistake (seconds, ms), not a change time.
	if d := time.Since(t0); d > time.Hour || d < -time.Hour {
		return started, false, fmt.Errorf("change time %q is not Unix nanoseconds near now", last)
	}
	return t0, true, nil
}

// sampleCPU reads the server's CPU seconds, or nil without -pid or when
// the process is gone.
func sampleCPU(pid int) *float64 {
	if pid <= 0 {
		return nil
	}
	s, err := serverCPUSeconds(pid)
	if err != nil {
		logf("server CPU: %v", err)
		return nil
	}
	return &s
}
