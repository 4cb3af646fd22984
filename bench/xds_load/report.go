package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// phase holds the figures of the initial sync or of the update; the JSON
// names are the contract with the scripts that compare servers.
type phase struct {
	Affected *int     `json:"affected,omitempty"` // update only: nodes the first update reached
	Updates  int      `json:"updates,omitempty"`  // update only: how many; bytes and CPU are per update
	P50ms    float64  `json:"p50_ms"`
	P99ms    float64  `json:"p99_ms"`
	MaxMs    float64  `json:"max_ms"`
	Bytes    int64    `json:"bytes"`
	CPUs     *float64 `json:"cpu_s"` // null without -pid
}

type results struct {
	cfg       *config
	initial   *phase
	update    *phase // nil without -update-cmd
	peakRSSMB *float64
}

func phaseFigures(ds []time.Duration, bytes int64, cpuBefore, cpuAfter *float64) *phase {
	s := summarize(ds)
	// Microseconds and clock ticks are the real resolution; rounding keeps
	// float noise out of the JSON.
	p := &phase{P50ms: round(s.p50, 3), P99ms: round(s.p99, 3), MaxMs: round(s.max, 3), Bytes: bytes}
	if cpuBefore != nil && cpuAfter != nil {
		cpu := round(*cpuAfter-*cpuBefore, 4)
		p.CPUs = &cpu
	}
	return p
}

func round(v float64, decimals int) float64 {
	scale := math.Pow(10, float64(decimals))
	return math.Round(v*scale) / scale
}

func (r *results) print(out io.Writer) {
	fmt.Fprintf(out, "xds_load: %d nodes, mode %s, server %s\n", r.cfg.nodes, r.cfg.mode(), r.cfg.server)
	if r.initial != nil {
		fmt.Fprintf(out, "initial sync  %s\n", r.initial.line())
	}
	if r.update != nil {
		fmt.Fprintf(out, "update        affected %d  %s\n", *r.update.Affected, r.update.line())
		if r.update.Updates > 1 {
			fmt.Fprintf(out, "              (%d updates: latencies of all, bytes and CPU per update)\n", r.update.Updates)
		}
	}
	if r.peakRSSMB != nil {
		fmt.Fprintf(out, "server peak RSS %.1f MB\n", *r.peakRSSMB)
	}
}

func (p *phase) line() string {
	s := fmt.Sprintf("p50 %.1f ms  p99 %.1f ms  max %.1f ms  received %s", p.P50ms, p.P99ms, p.MaxMs, humanBytes(p.Bytes))
	if p.CPUs != nil {
		s += fmt.Sprintf("  server CPU %.3f s", *p.CPUs)
	}
	return s
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// writeJSON writes {"nodes", "mode", "initial", "update", "peak_rss_mb"};
// figures that were not measured are null.
func (r *results) writeJSON(path string) error {
	doc := struct {
		Nodes     int      `json:"nodes"`
		Mode      string   `json:"mode"`
		Initial   *phase   `json:"initial"`
		Update    *phase   `json:"update"`
		PeakRSSMB *float64 `json:"peak_rss_mb"`
	}{r.cfg.nodes, r.cfg.mode(), r.initial, r.update, r.peakRSSMB}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
