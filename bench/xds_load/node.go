package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// maxMessageBytes bounds one xDS response; a node's endpoints at full scale
// are far beyond gRPC's default 4 MiB.
const maxMessageBytes = 1 << 30

// load is the state shared by all simulated nodes of one run.
type load struct {
	server   string
	delta    bool
	interner *interner

	updating   atomic.Bool     // the update phase has begun
	bytes      [2]atomic.Int64 // bytes received: [0] initial sync, [1] update
	lastChange atomic.Int64    // Unix ns of the newest content change in the update phase
	affected   atomic.Int64    // nodes with a content change in the current update
	completed  chan *node      // each node once, when it first holds a complete config

	errMu    sync.Mutex
	failures int
	firstErr error
	failed   chan *node // each failing node once
}

func newLoad(server string, delta bool, nodes int) *load {
	return &load{
		server:    server,
		delta:     delta,
		interner:  newInterner(),
		completed: make(chan *node, nodes),
		failed:    make(chan *node, nodes),
	}
}

func (l *load) failureSummary() (int, error) {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.failures, l.firstErr
}

// node is one simulated Envoy: its own connection and one ADS stream.
type node struct {
	id, zone string
	load     *load

	mu         sync.Mutex
	hold       *holdings
	start      time.Time // when dialing began
	completeAt time.Time // zero until the node first holds a complete config
	changedAt  time.Time // last content change in the update phase
	changed    bool
	err        error
	conn       *grpc.ClientConn // to tell why a node has no stream yet
	streaming  bool             // the ADS stream is open
}

func newNode(l *load, id, zone string) *node {
	return &node{id: id, zone: zone, load: l, hold: newHoldings()}
}

// run dials and serves the node's stream until ctx ends or the stream fails.
func (n *node) run(ctx context.Context) {
	n.mu.Lock()
	n.start = time.Now()
	n.mu.Unlock()
	conn, err := grpc.NewClient(n.load.server,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes)))
	if err != nil {
		n.fail(err)
		return
	}
	defer conn.Close()
	n.mu.Lock()
	n.conn = conn
	n.mu.Unlock()
	client := discoverygrpc.NewAggregatedDiscoveryServiceClient(conn)
	if n.load.delta {
		err = n.runDelta(ctx, client)
	} else {
		err = n.runSotW(ctx, client)
	}
	if ctx.Err() == nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("server closed the stream")
		}
		n.fail(err)
	}
}

func (n *node) fail(err error) {
	err = fmt.Errorf("%s: %w", n.id, err)
	n.mu.Lock()
	n.err = err
	n.mu.Unlock()
	l := n.load
	l.errMu.Lock()
	l.failures++
	if l.firstErr == nil {
		l.firstErr = err
	}
	l.errMu.Unlock()
	l.failed <- n
}

// recordLocked books a processed response: bytes per phase, the time of a
// content change during the update, and first completeness. n.mu is held.
func (n *node) recordLocked(at time.Time, size int, changed bool) {
	l := n.load
	if l.updating.Load() {
		l.bytes[1].Add(int64(size))
		if changed {
			n.changedAt = at
			if !n.changed {
				n.changed = true
				l.affected.Add(1)
			}
			l.lastChange.Store(at.UnixNano())
		}
	} else {
		l.bytes[0].Add(int64(size))
	}
	if n.completeAt.IsZero() && n.hold.complete() {
		n.completeAt = at
		l.completed <- n
	}
}

// syncTime is how long the node took from dialing to a complete config.
func (n *node) syncTime() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.completeAt.Sub(n.start)
}

// missing describes what the node still lacks (or why it failed).
func (n *node) missing() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.err != nil {
		return n.err.Error()
	}
	if !n.streaming {
		state := "not dialed"
		if n.conn != nil {
			state = "connection " + n.conn.GetState().String()
		}
		return n.id + ": no ADS stream yet (" + state + ")"
	}
	return n.id + ": missing " + n.hold.missing()
}

// resetUpdate forgets the node's content changes before the next update.
func (n *node) resetUpdate() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.changed = false
	n.changedAt = time.Time{}
}

// updateLatency returns the time from t0 to the node's last content change
// in the update phase, and whether it had one.
func (n *node) updateLatency(t0 time.Time) (time.Duration, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changedAt.Sub(t0), n.changed
}
