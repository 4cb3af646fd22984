package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// startPeer serves the fixture dumps on loopback ports and returns an ADS
// client and the admin base URL.
func startPeer(t *testing.T, sotw bool) (discovery.AggregatedDiscoveryServiceClient, string) {
	t.Helper()
	initialDir, updateDir := fixture(t, sotw)
	initial, update, err := loadDumps(options{initial: initialDir, update: updateDir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p, err := newPeer(ctx, initial, update)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := p.grpcServer()
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	admin := httptest.NewServer(p.adminHandler())
	t.Cleanup(admin.Close)
	p.ready.Store(true)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return discovery.NewAggregatedDiscoveryServiceClient(conn), admin.URL
}

// postUpdate calls POST /update and returns the start time it reports.
func postUpdate(t *testing.T, adminURL string) int64 {
	t.Helper()
	resp, err := http.Post(adminURL+"/update", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /update: %s %s", resp.Status, body)
	}
	start, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
	if err != nil || start <= 0 {
		t.Fatalf("POST /update body %q is not Unix ns", body)
	}
	return start
}

// receive waits for the next message of a stream, failing after a timeout.
func receive[T any](t *testing.T, recv func() (T, error)) T {
	t.Helper()
	type result struct {
		msg T
		err error
	}
	ch := make(chan result, 1)
	go func() { msg, err := recv(); ch <- result{msg, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("receive: %v", r.err)
		}
		return r.msg
	case <-time.After(5 * time.Second):
		t.Fatal("no response within 5s")
	}
	panic("unreachable")
}

func TestReadyAndUpdateWithoutDump(t *testing.T) {
	initialDir, _ := fixture(t, true)
	initial, _, err := loadDumps(options{initial: initialDir})
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPeer(context.Background(), initial, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(p.adminHandler())
	defer admin.Close()
	get := func() int {
		resp, err := http.Get(admin.URL + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != http.StatusServiceUnavailable {
		t.Errorf("/ready before serving: %d", code)
	}
	p.ready.Store(true)
	if code := get(); code != http.StatusOK {
		t.Errorf("/ready while serving: %d", code)
	}
	resp, err := http.Post(admin.URL+"/update", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "-update") {
		t.Errorf("POST /update without a dump: %d %q", resp.StatusCode, body)
	}
}

func TestSotwExchangeAndUpdate(t *testing.T) {
	client, adminURL := startPeer(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &core.Node{Id: "node-0000", Locality: &core.Locality{Zone: "zone-a"}}
	send := func(req *discovery.DiscoveryRequest) {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	// Subscribe as Envoy does and ACK each answer.
	ack := func(typeURL string, names []string, wantVersion string, wantCount int) *discovery.DiscoveryResponse {
		t.Helper()
		resp := receive(t, stream.Recv)
		if resp.GetTypeUrl() != typeURL || resp.GetVersionInfo() != wantVersion || len(resp.GetResources()) != wantCount {
			t.Fatalf("got %s version %q with %d resources, want %s version %q with %d",
				resp.GetTypeUrl(), resp.GetVersionInfo(), len(resp.GetResources()), typeURL, wantVersion, wantCount)
		}
		send(&discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
		return resp
	}
	send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType})
	ack(resource.ClusterType, nil, "c1", 2)
	edsNames := []string{"shop/api", "shop/web"}
	send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: edsNames})
	ack(resource.EndpointType, edsNames, "e1", 2)
	send(&discovery.DiscoveryRequest{TypeUrl: resource.ListenerType})
	ack(resource.ListenerType, nil, "l1", 1)
	send(&discovery.DiscoveryRequest{TypeUrl: resource.RouteType, ResourceNames: []string{"route-8080"}})
	ack(resource.RouteType, []string{"route-8080"}, "r1", 1)

	before := time.Now().UnixNano()
	start := postUpdate(t, adminURL)
	if start < before {
		t.Errorf("update start %d precedes the request %d", start, before)
	}
	// Only the changed type is pushed again.
	resp := ack(resource.EndpointType, edsNames, "e2", 2)
	found := false
	for _, body := range resp.GetResources() {
		cla := &endpoint.ClusterLoadAssignment{}
		if err := body.UnmarshalTo(cla); err != nil {
			t.Fatal(err)
		}
		if cla.GetClusterName() == "shop/web" {
			found = true
			if !proto.Equal(cla, assignment("shop/web", "10.0.9.9")) {
				t.Errorf("shop/web after the update: %v", cla)
			}
		}
	}
	if !found {
		t.Error("shop/web missing from the update")
	}

	// The next update puts the initial snapshots back: a real change again.
	postUpdate(t, adminURL)
	ack(resource.EndpointType, edsNames, "e1", 2)
}

func TestDeltaExchangeAndUpdate(t *testing.T) {
	client, adminURL := startPeer(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &core.Node{Id: "node-0000", Locality: &core.Locality{Zone: "zone-b"}}
	send := func(req *discovery.DeltaDiscoveryRequest) {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	// Receive one response, check which resources it carries (in any
	// order), and ACK it.
	ack := func(typeURL string, wantNames ...string) {
		t.Helper()
		resp := receive(t, stream.Recv)
		var names []string
		for _, r := range resp.GetResources() {
			names = append(names, r.GetName())
		}
		sort.Strings(names)
		if resp.GetTypeUrl() != typeURL || strings.Join(names, ",") != strings.Join(wantNames, ",") {
			t.Fatalf("got %s %v, want %s %v", resp.GetTypeUrl(), names, typeURL, wantNames)
		}
		send(&discovery.DeltaDiscoveryRequest{TypeUrl: typeURL, ResponseNonce: resp.GetNonce()})
	}
	send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.ClusterType})
	ack(resource.ClusterType, "shop/api", "shop/web")
	send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNamesSubscribe: []string{"shop/api", "shop/web"}})
	ack(resource.EndpointType, "shop/api", "shop/web")
	send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ListenerType})
	ack(resource.ListenerType, "listen-8080")
	send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResourceNamesSubscribe: []string{"route-8080"}})
	ack(resource.RouteType, "route-8080")

	postUpdate(t, adminURL)
	// Delta sends only the assignment that changed, and again when the
	// next update changes it back.
	ack(resource.EndpointType, "shop/web")
	postUpdate(t, adminURL)
	ack(resource.EndpointType, "shop/web")
}
