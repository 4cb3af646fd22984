package main

import (
	"os"
	"path/filepath"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Small hand-made dumps in the format xds_load writes: one
// DiscoveryResponse per type, Any bodies sorted by name.

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func response(t *testing.T, typeURL, version string, msgs ...proto.Message) *discovery.DiscoveryResponse {
	t.Helper()
	resp := &discovery.DiscoveryResponse{TypeUrl: typeURL, VersionInfo: version}
	for _, m := range msgs {
		resp.Resources = append(resp.Resources, mustAny(t, m))
	}
	return resp
}

func writeDump(t *testing.T, dir, node string, responses ...*discovery.DiscoveryResponse) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, node+".pb"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range responses {
		if _, err := protodelim.MarshalTo(f, r); err != nil {
			t.Fatal(err)
		}
	}
}

func edsCluster(name string) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		EdsClusterConfig: &cluster.Cluster_EdsClusterConfig{
			EdsConfig: &core.ConfigSource{ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}}},
		},
	}
}

func assignment(name, address string) *endpoint.ClusterLoadAssignment {
	return &endpoint.ClusterLoadAssignment{
		ClusterName: name,
		Endpoints: []*endpoint.LocalityLbEndpoints{{
			LbEndpoints: []*endpoint.LbEndpoint{{
				HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
					Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
						Address:       address,
						PortSpecifier: &core.SocketAddress_PortValue{PortValue: 8080},
					}}},
				}},
			}},
		}},
	}
}

// fixture writes an initial and an update dump for node-0000 where the
// update changes one endpoint address and nothing else.
func fixture(t *testing.T, sotw bool) (initialDir, updateDir string) {
	t.Helper()
	base := t.TempDir()
	initialDir, updateDir = filepath.Join(base, "initial"), filepath.Join(base, "update")
	version := func(v string) string {
		if sotw {
			return v
		}
		return "" // delta dumps carry no version
	}
	lds := response(t, resource.ListenerType, version("l1"), &listener.Listener{Name: "listen-8080"})
	rds := response(t, resource.RouteType, version("r1"), &route.RouteConfiguration{Name: "route-8080"})
	cds := response(t, resource.ClusterType, version("c1"), edsCluster("shop/api"), edsCluster("shop/web"))
	writeDump(t, initialDir, "node-0000", cds,
		response(t, resource.EndpointType, version("e1"), assignment("shop/api", "10.0.0.1"), assignment("shop/web", "10.0.0.2")),
		lds, rds)
	writeDump(t, updateDir, "node-0000", cds,
		response(t, resource.EndpointType, version("e2"), assignment("shop/api", "10.0.0.1"), assignment("shop/web", "10.0.9.9")),
		lds, rds)
	return initialDir, updateDir
}
