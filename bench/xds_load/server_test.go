package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
)

// nodeSnapshot is one node's config: two EDS clusters, an HTTPS listener
// on RDS with its certificate over SDS. address varies the endpoints.
func nodeSnapshot(t *testing.T, version, address string) *cachev3.Snapshot {
	snap, err := cachev3.NewSnapshot(version, map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  {edsCluster("a", "svc-a"), edsCluster("b", "")},
		resourcev3.EndpointType: {loadAssignment("svc-a", address), loadAssignment("b", "10.0.0.2")},
		resourcev3.ListenerType: {httpsListener(t, "https", "routes-443", "web-tls")},
		resourcev3.RouteType:    {&routev3.RouteConfiguration{Name: "routes-443"}},
		resourcev3.SecretType:   {&tlsv3.Secret{Name: "web-tls"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// startServer serves the snapshot cache over ADS on a free local port.
func startServer(t *testing.T, cache cachev3.SnapshotCache) string {
	ctx, cancel := context.WithCancel(context.Background())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, serverv3.NewServer(ctx, cache, nil))
	go gs.Serve(lis)
	t.Cleanup(func() {
		gs.Stop()
		cancel()
	})
	return lis.Addr().String()
}

// TestAgainstGoControlPlane runs the whole measurement in both protocols:
// initial sync, an update that changes one node's endpoints, dumps, and
// verification of a fresh run against the dump taken after the update.
func TestAgainstGoControlPlane(t *testing.T) {
	for _, mode := range []string{"sotw", "delta"} {
		t.Run(mode, func(t *testing.T) {
			cache := cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
			ctx := context.Background()
			for i := 0; i < 3; i++ {
				if err := cache.SetSnapshot(ctx, "node-000"+strconv.Itoa(i), nodeSnapshot(t, "1", "10.0.0.1")); err != nil {
					t.Fatal(err)
				}
			}
			addr := startServer(t, cache)
			dir := t.TempDir()
			trigger := filepath.Join(dir, "trigger")
			// The update command only signals; the test applies the change,
			// as a peer's admin endpoint would. The second update puts the
			// first state back, the third the changed one again.
			go func() {
				for update := 1; update <= 3; {
					if err := os.Remove(trigger); err == nil {
						address, version := "10.0.0.9", strconv.Itoa(update+1)
						if update == 2 {
							address = "10.0.0.1"
						}
						cache.SetSnapshot(ctx, "node-0001", nodeSnapshot(t, version, address))
						update++
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()

			// The updates signal only once -before-updates has run.
			ready := filepath.Join(dir, "ready")
			args := []string{"-server", addr, "-nodes", "3", "-mode", mode, "-sync-timeout", "10s",
				"-before-updates", "touch " + ready,
				"-update-cmd", "test -e " + ready + " && touch " + trigger + "; date +%s%N", "-updates", "3", "-expect-affected", "1", "-settle", "300ms",
				"-pid", strconv.Itoa(os.Getpid()), "-json", filepath.Join(dir, "out.json"),
				"-dump-before", filepath.Join(dir, "before"), "-dump-after", filepath.Join(dir, "after")}
			cfg, err := parseFlags(args, os.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if !execute(cfg, &out) {
				t.Fatalf("run failed:\n%s", out.String())
			}
			if !strings.Contains(out.String(), "affected 1") {
				t.Fatalf("report:\n%s", out.String())
			}
			for _, want := range []string{`"affected": 1`, `"updates": 3`, `"p99_ms"`, `"cpu_s"`, `"peak_rss_mb"`} {
				if data, _ := os.ReadFile(filepath.Join(dir, "out.json")); !bytes.Contains(data, []byte(want)) {
					t.Errorf("JSON lacks %s:\n%s", want, data)
				}
			}
			before, err := readNodeDump(filepath.Join(dir, "before", "node-0001.pb"))
			if err != nil {
				t.Fatal(err)
			}
			for typ := xdsType(0); typ < numTypes; typ++ {
				if len(before[typ]) == 0 {
					t.Errorf("dump before the update has no %s resources", typ)
				}
			}

			// A failing -before-updates fails the run before any update.
			cfg, err = parseFlags([]string{"-server", addr, "-nodes", "1", "-mode", mode,
				"-before-updates", "exit 3", "-update-cmd", "touch " + trigger + "; date +%s%N"}, os.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			if execute(cfg, &out) {
				t.Fatal("a run whose -before-updates failed succeeded")
			}
			if _, err := os.Stat(trigger); err == nil {
				t.Fatal("an update ran after -before-updates failed")
			}

			// A fresh run holds exactly the post-update state; the state
			// before the update differs for node-0001 only, in one CLA.
			cfg, _ = parseFlags([]string{"-server", addr, "-nodes", "3", "-mode", mode, "-verify", filepath.Join(dir, "after")}, os.Stderr)
			if !execute(cfg, &out) {
				t.Fatal("verify against the dump after the update failed")
			}
			l := newLoad(addr, mode == "delta", 3)
			nodes := []*node{newNode(l, "node-0000", "zone-a"), newNode(l, "node-0001", "zone-b")}
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			for _, n := range nodes {
				go n.run(runCtx)
			}
			if !waitSync(l, nodes, 10*time.Second) {
				t.Fatal("no sync")
			}
			diffs := verifyDump(filepath.Join(dir, "before"), nodes)
			if len(diffs) != 1 || !strings.Contains(diffs[0], `node-0001 EDS "svc-a": differs`) {
				t.Fatalf("differences from the dump before the update: %q", diffs)
			}
		})
	}
}
