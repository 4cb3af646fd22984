package main

import (
	"context"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// stuckWindowBytes is the HTTP/2 flow-control window of a stuck stream's
// connection. A fixed window (it also turns off gRPC's window growth) means
// the server can write only this much before the stream blocks.
const stuckWindowBytes = 64 * 1024

// runStuck opens a state-of-the-world ADS stream for node `id` that asks for
// every cluster and every load assignment and then never reads: the server
// is left holding a large response it cannot write, as with an Envoy that
// hangs. It returns when ctx ends; figures never include it.
func runStuck(ctx context.Context, server, id, zone string) error {
	conn, err := grpc.NewClient(server,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(stuckWindowBytes),
		grpc.WithInitialConnWindowSize(stuckWindowBytes))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	stream, err := client.StreamAggregatedResources(ctx, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	node := envoyNode(id, zone)
	for _, t := range []xdsType{cds, eds} {
		// No names: the whole set of the type.
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typeURLs[t]}); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}
