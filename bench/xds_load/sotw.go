package main

import (
	"context"
	"fmt"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// runSotW speaks state-of-the-world ADS the way Envoy does: every request
// carries the node (Envoy's default), the full subscribed name set of its
// type, and the last accepted version and nonce of that type. Every response
// is ACKed.
func (n *node) runSotW(ctx context.Context, client discoveryv3.AggregatedDiscoveryServiceClient) error {
	stream, err := client.StreamAggregatedResources(ctx, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	id := envoyNode(n.id, n.zone)
	var nonce [numTypes]string
	request := func(t xdsType, names []string) *discoveryv3.DiscoveryRequest {
		return &discoveryv3.DiscoveryRequest{
			Node:          id,
			TypeUrl:       typeURLs[t],
			VersionInfo:   n.hold.version[t],
			ResponseNonce: nonce[t],
			ResourceNames: names,
		}
	}

	n.mu.Lock()
	n.streaming = true
	n.hold.requested[cds] = true
	first := request(cds, nil)
	n.mu.Unlock()
	if err := stream.Send(first); err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		at := time.Now()
		t, ok := typeFromURL(resp.TypeUrl)
		if !ok {
			return fmt.Errorf("response of unexpected type %q", resp.TypeUrl)
		}
		got := make([]*resource, 0, len(resp.Resources))
		for _, body := range resp.Resources {
			r, err := n.load.interner.intern(t, "", body)
			if err != nil {
				return err
			}
			got = append(got, r)
		}

		n.mu.Lock()
		changed := n.hold.applySotW(t, resp.VersionInfo, got)
		nonce[t] = resp.Nonce
		var ackNames []string
		if !t.wildcard() {
			ackNames = sortedKeys(n.hold.wanted[t])
		}
		out := []*discoveryv3.DiscoveryRequest{request(t, ackNames)}
		changes, dropped := n.hold.resubscribe()
		for _, c := range changes {
			// An empty name list would mean "everything" to a
			// state-of-the-world server; with nothing left to subscribe
			// the node keeps the old subscription and ignores the answers.
			if !c.t.wildcard() && len(c.names) == 0 {
				continue
			}
			out = append(out, request(c.t, c.names))
		}
		n.recordLocked(at, proto.Size(resp), changed || dropped)
		n.mu.Unlock()

		for _, req := range out {
			if err := stream.Send(req); err != nil {
				return err
			}
		}
	}
}
