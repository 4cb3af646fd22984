package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	gcplog "github.com/envoyproxy/go-control-plane/pkg/log"
	server "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// peer serves dumped per-node configuration from go-control-plane's snapshot
// cache, the way a control plane built on that library serves it.
type peer struct {
	ctx   context.Context // lives as long as the server
	cache cache.SnapshotCache
	xds   server.Server

	// update holds the snapshots that POST /update installs, and initial
	// those that every second POST /update puts back (so updates can be
	// repeated, each a real change); both are built at start so that an
	// update costs only the cache's own work.
	initial     map[string]*cache.Snapshot
	update      map[string]*cache.Snapshot
	updateNodes []string
	updateMu    sync.Mutex // one update at a time
	updates     int        // POST /update calls so far; guarded by updateMu

	ready atomic.Bool
}

// newPeer sets every node's initial snapshot; update may be nil.
func newPeer(ctx context.Context, initial, update map[string]*cache.Snapshot) (*peer, error) {
	logger := gcplog.LoggerFuncs{
		WarnFunc:  func(format string, args ...interface{}) { log.Printf("cache warning: "+format, args...) },
		ErrorFunc: func(format string, args ...interface{}) { log.Printf("cache error: "+format, args...) },
	}
	// ads=true: responses wait until a request names every resource of the
	// snapshot, as Envoy's ADS subscriptions do.
	snapshotCache := cache.NewSnapshotCache(true, cache.IDHash{}, logger)
	for _, node := range sortedNodes(initial) {
		if err := snapshotCache.SetSnapshot(ctx, node, initial[node]); err != nil {
			return nil, fmt.Errorf("initial snapshot of node %s: %w", node, err)
		}
	}
	p := &peer{
		ctx:     ctx,
		cache:   snapshotCache,
		xds:     server.NewServer(ctx, snapshotCache, nil),
		initial: initial,
		update:  update,
	}
	if update != nil {
		p.updateNodes = sortedNodes(update)
	}
	return p, nil
}

// grpcServer returns a gRPC server with ADS (state-of-the-world and delta).
func (p *peer) grpcServer() *grpc.Server {
	srv := grpc.NewServer(
		// Clients that ping idle streams keep their connections instead of
		// being closed for "too many pings".
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             5 * time.Second,
			PermitWithoutStream: true,
		}),
	)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(srv, p.xds)
	return srv
}

// applyUpdate installs every node's update snapshot (on the 1st, 3rd, ...
// call; the initial ones on the 2nd, 4th, ...) and returns the Unix ns at
// which it started.
func (p *peer) applyUpdate() (int64, error) {
	if p.update == nil {
		return 0, fmt.Errorf("no update dump was given (-update)")
	}
	p.updateMu.Lock()
	defer p.updateMu.Unlock()
	p.updates++
	next, what := p.update, "update"
	if p.updates%2 == 0 {
		next, what = p.initial, "initial"
	}
	start := time.Now().UnixNano()
	for _, node := range p.updateNodes {
		if err := p.cache.SetSnapshot(p.ctx, node, next[node]); err != nil {
			return start, fmt.Errorf("%s snapshot of node %s: %w", what, node, err)
		}
	}
	return start, nil
}

// adminHandler serves GET /ready and POST /update.
func (p *peer) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if !p.ready.Load() {
			http.Error(w, "not serving yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/update", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		start, err := p.applyUpdate()
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		// The body is the change time that the load generator measures from.
		fmt.Fprintf(w, "%d\n", start)
	})
	return mux
}
