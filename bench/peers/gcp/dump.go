package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	// The resource types a dump may hold; anypb.UnmarshalNew finds them in
	// the global registry only when their packages are linked in.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// dumpSuffix is the file name ending of one node's dump: DIR/<node-id>.pb.
const dumpSuffix = ".pb"

// emptyVersion is the version given to a wildcard type (clusters, listeners)
// that a node holds none of. The snapshot cache never answers a request whose
// version equals the snapshot's, and a fresh stream asks with version "", so
// without a version of its own such a node would never get its (empty) answer.
const emptyVersion = "empty"

// interner shares one decoded message between all snapshots that hold the
// same resource bytes. A real control plane builds a resource once and puts
// it into every node's snapshot; decoding each node's copy separately would
// instead charge the peer with thousands of duplicates in its peak RSS. Keys
// are digests, not the bytes, for the same reason.
type interner map[[sha256.Size]byte]types.Resource

func (in interner) resource(body *anypb.Any) (types.Resource, error) {
	h := sha256.New()
	h.Write([]byte(body.GetTypeUrl()))
	h.Write([]byte{0})
	h.Write(body.GetValue())
	var key [sha256.Size]byte
	h.Sum(key[:0])
	if res, ok := in[key]; ok {
		return res, nil
	}
	msg, err := anypb.UnmarshalNew(body, proto.UnmarshalOptions{})
	if err != nil {
		return nil, err
	}
	in[key] = msg
	return msg, nil
}

// loadDumpDir reads every <node-id>.pb file of dir into one snapshot per node
// id. Resources equal across nodes (or across the dirs of calls sharing in)
// are decoded once.
func loadDumpDir(dir string, in interner) (map[string]*cache.Snapshot, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading dump directory: %w", err)
	}
	snapshots := make(map[string]*cache.Snapshot)
	for _, entry := range entries {
		name := entry.Name()
		if entry.IsDir() || !strings.HasSuffix(name, dumpSuffix) {
			continue
		}
		path := filepath.Join(dir, name)
		snap, err := loadNodeDump(path, in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		snapshots[strings.TrimSuffix(name, dumpSuffix)] = snap
	}
	if len(snapshots) == 0 {
		return nil, fmt.Errorf("dump directory %s holds no <node-id>%s files", dir, dumpSuffix)
	}
	return snapshots, nil
}

// loadNodeDump reads one node's file: varint-length-delimited
// DiscoveryResponses, one per resource type.
func loadNodeDump(path string, in interner) (*cache.Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readNodeDump(bufio.NewReaderSize(f, 1<<16), in)
}

func readNodeDump(r *bufio.Reader, in interner) (*cache.Snapshot, error) {
	snap := &cache.Snapshot{}
	seen := make(map[string]bool)
	// Dumps of large nodes exceed protodelim's default 4 MiB per message.
	opts := protodelim.UnmarshalOptions{MaxSize: -1}
	for index := 1; ; index++ {
		resp := &discovery.DiscoveryResponse{}
		err := opts.UnmarshalFrom(r, resp)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("message %d: not a length-delimited DiscoveryResponse: %w", index, err)
		}
		typeURL := resp.GetTypeUrl()
		if typeURL == "" {
			return nil, fmt.Errorf("message %d: type_url is empty", index)
		}
		responseType := cache.GetResponseType(typeURL)
		if responseType == types.UnknownType {
			return nil, fmt.Errorf("message %d: type_url %q is not an xDS resource type", index, typeURL)
		}
		if seen[typeURL] {
			return nil, fmt.Errorf("message %d: a second response of type %s (one per type expected)", index, typeURL)
		}
		seen[typeURL] = true
		items, err := decodeResources(resp, in)
		if err != nil {
			return nil, fmt.Errorf("message %d (%s): %w", index, typeURL, err)
		}
		version := resp.GetVersionInfo()
		if version == "" {
			// Delta dumps carry no version; a content hash keeps unchanged
			// types unchanged between the initial and the update snapshot.
			version = hashResources(resp.GetResources())
		}
		snap.Resources[responseType] = cache.NewResources(version, items)
	}
	for _, typeURL := range []string{resource.ClusterType, resource.ListenerType} {
		responseType := cache.GetResponseType(typeURL)
		if snap.Resources[responseType].Version == "" {
			snap.Resources[responseType] = cache.NewResources(emptyVersion, nil)
		}
	}
	return snap, nil
}

// decodeResources turns a response's Any bodies into concrete messages,
// checking each has the response's type and a unique, non-empty name.
func decodeResources(resp *discovery.DiscoveryResponse, in interner) ([]types.Resource, error) {
	items := make([]types.Resource, 0, len(resp.GetResources()))
	names := make(map[string]bool, len(resp.GetResources()))
	for i, body := range resp.GetResources() {
		if body.GetTypeUrl() != resp.GetTypeUrl() {
			return nil, fmt.Errorf("resource %d has type_url %q, the response's is %q", i+1, body.GetTypeUrl(), resp.GetTypeUrl())
		}
		msg, err := in.resource(body)
		if err != nil {
			return nil, fmt.Errorf("resource %d: cannot decode: %w", i+1, err)
		}
		name := cache.GetResourceName(msg)
		if name == "" {
			return nil, fmt.Errorf("resource %d has no name", i+1)
		}
		if names[name] {
			return nil, fmt.Errorf("resource %q appears twice", name)
		}
		names[name] = true
		items = append(items, msg)
	}
	return items, nil
}

// hashResources is a content hash of a type's resources (short hex).
func hashResources(bodies []*anypb.Any) string {
	h := sha256.New()
	var size [binary.MaxVarintLen64]byte
	for _, body := range bodies {
		// Length prefixes keep distinct lists from hashing alike.
		h.Write(size[:binary.PutUvarint(size[:], uint64(len(body.GetValue())))])
		h.Write(body.GetValue())
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// sortedNodes lists the node ids of a dump in a stable order.
func sortedNodes(snapshots map[string]*cache.Snapshot) []string {
	nodes := make([]string, 0, len(snapshots))
	for node := range snapshots {
		nodes = append(nodes, node)
	}
	sort.Strings(nodes)
	return nodes
}
