package main

import (
	"context"
	"fmt"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// wildcardName subscribes a delta stream to every resource of a type.
const wildcardName = "*"

// runDelta speaks incremental ADS the way Envoy does: the node goes only in
// the stream's first request, CDS and LDS are subscribed with "*", named
// types by subscribe/unsubscribe differences, and every response is ACKed
// with its nonce.
func (n *node) runDelta(ctx context.Context, client discoveryv3.AggregatedDiscoveryServiceClient) error {
	stream, err := client.DeltaAggregatedResources(ctx, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.streaming = true
	n.hold.requested[cds] = true
	n.mu.Unlock()
	err = stream.Send(&discoveryv3.DeltaDiscoveryRequest{
		Node:                   envoyNode(n.id, n.zone),
		TypeUrl:                typeURLs[cds],
		ResourceNamesSubscribe: []string{wildcardName},
	})
	if err != nil {
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
		for _, dr := range resp.Resources {
			if dr.Resource == nil {
				return fmt.Errorf("%s resource %q has no body", t, dr.Name)
			}
			r, err := n.load.interner.intern(t, dr.Name, dr.Resource)
			if err != nil {
				return err
			}
			got = append(got, r)
		}

		n.mu.Lock()
		changed := n.hold.applyDelta(t, got, resp.RemovedResources)
		out := []*discoveryv3.DeltaDiscoveryRequest{{TypeUrl: resp.TypeUrl, ResponseNonce: resp.Nonce}}
		changes, dropped := n.hold.resubscribe()
		for _, c := range changes {
			req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURLs[c.t]}
			if c.t.wildcard() {
				req.ResourceNamesSubscribe = []string{wildcardName}
			} else {
				req.ResourceNamesSubscribe = c.added
				req.ResourceNamesUnsubscribe = c.removed
			}
			out = append(out, req)
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
