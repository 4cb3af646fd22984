package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestLoadDumpKeepsVersionsAndSharesResources(t *testing.T) {
	initialDir, updateDir := fixture(t, true)
	in := interner{}
	initial, err := loadDumpDir(initialDir, in)
	if err != nil {
		t.Fatal(err)
	}
	update, err := loadDumpDir(updateDir, in)
	if err != nil {
		t.Fatal(err)
	}
	snap := initial["node-0000"]
	if snap == nil {
		t.Fatalf("node-0000 missing; got %v", sortedNodes(initial))
	}
	if got := snap.GetVersion(resource.EndpointType); got != "e1" {
		t.Errorf("endpoint version = %q, want e1", got)
	}
	if got := len(snap.GetResources(resource.ClusterType)); got != 2 {
		t.Errorf("%d clusters, want 2", got)
	}
	// Unchanged resources are one object in both dumps; changed ones are not.
	after := update["node-0000"]
	if snap.GetResources(resource.ClusterType)["shop/api"] != after.GetResources(resource.ClusterType)["shop/api"] {
		t.Error("an unchanged cluster was decoded twice")
	}
	if snap.GetResources(resource.EndpointType)["shop/web"] == after.GetResources(resource.EndpointType)["shop/web"] {
		t.Error("a changed assignment is shared with the initial dump")
	}
	// 2 clusters + 3 assignments + listener + route.
	if len(in) != 7 {
		t.Errorf("%d distinct resources, want 7", len(in))
	}
}

func TestLoadDumpHashesMissingVersions(t *testing.T) {
	initialDir, updateDir := fixture(t, false)
	initial, err := loadDumpDir(initialDir, interner{})
	if err != nil {
		t.Fatal(err)
	}
	update, err := loadDumpDir(updateDir, interner{})
	if err != nil {
		t.Fatal(err)
	}
	before, after := initial["node-0000"], update["node-0000"]
	if v := before.GetVersion(resource.ClusterType); v == "" || v != after.GetVersion(resource.ClusterType) {
		t.Errorf("cluster versions %q, %q: want equal and non-empty", v, after.GetVersion(resource.ClusterType))
	}
	if before.GetVersion(resource.EndpointType) == after.GetVersion(resource.EndpointType) {
		t.Error("changed endpoints kept their version")
	}
}

func TestLoadDumpGivesEmptyWildcardTypesAVersion(t *testing.T) {
	dir := t.TempDir()
	writeDump(t, dir, "node-0001")
	snaps, err := loadDumpDir(dir, interner{})
	if err != nil {
		t.Fatal(err)
	}
	for _, typeURL := range []string{resource.ClusterType, resource.ListenerType} {
		if v := snaps["node-0001"].GetVersion(typeURL); v == "" {
			t.Errorf("%s has no version: the node would never get an answer", typeURL)
		}
	}
}

func TestLoadDumpErrors(t *testing.T) {
	cds := func(t *testing.T) *discovery.DiscoveryResponse {
		return response(t, resource.ClusterType, "1", edsCluster("a"))
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"missing directory", func(t *testing.T, dir string) { os.Remove(dir) }, "reading dump directory"},
		{"no node files", func(t *testing.T, dir string) {}, "holds no <node-id>.pb files"},
		{"not protobuf", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "node-0000.pb"), []byte{0xff, 0xff, 0xff}, 0o644)
		}, "node-0000.pb: message 1: not a length-delimited DiscoveryResponse"},
		{"no type url", func(t *testing.T, dir string) {
			writeDump(t, dir, "node-0000", cds(t), &discovery.DiscoveryResponse{VersionInfo: "1"})
		}, "node-0000.pb: message 2: type_url is empty"},
		{"unknown type", func(t *testing.T, dir string) {
			writeDump(t, dir, "node-0000", &discovery.DiscoveryResponse{TypeUrl: "type.googleapis.com/foo.Bar"})
		}, `type_url "type.googleapis.com/foo.Bar" is not an xDS resource type`},
		{"type twice", func(t *testing.T, dir string) {
			writeDump(t, dir, "node-0000", cds(t), cds(t))
		}, "message 2: a second response of type"},
		{"body of another type", func(t *testing.T, dir string) {
			writeDump(t, dir, "node-0000", response(t, resource.EndpointType, "1", edsCluster("a")))
		}, "resource 1 has type_url"},
		{"undecodable body", func(t *testing.T, dir string) {
			resp := &discovery.DiscoveryResponse{TypeUrl: resource.ClusterType, Resources: []*anypb.Any{
				{TypeUrl: resource.ClusterType, Value: []byte{0x0a, 0x10}},
			}}
			writeDump(t, dir, "node-0000", resp)
		}, "resource 1: cannot decode"},
		{"unnamed resource", func(t *testing.T, dir string) {
			writeDump(t, dir, "node-0000", response(t, resource.ClusterType, "1", &cluster.Cluster{}))
		}, "resource 1 has no name"},
		{"duplicate name", func(t *testing.T, dir string) {
			writeDump(t, dir, "node-0000", response(t, resource.ClusterType, "1", edsCluster("a"), proto.Clone(edsCluster("a"))))
		}, `resource "a" appears twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			_, err := loadDumpDir(dir, interner{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
