package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/types/known/anypb"
)

// A dump is one file per node, DIR/<node-id>.pb: varint-length-delimited
// DiscoveryResponse messages, one per resource type the node holds, with
// type_url, version_info (the last one received in state of the world,
// empty in delta) and the resources sorted by name.

// snapshotResponses copies what the node holds into dump messages.
func (n *node) snapshotResponses() []*discoveryv3.DiscoveryResponse {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*discoveryv3.DiscoveryResponse
	for t := xdsType(0); t < numTypes; t++ {
		held := n.hold.sorted(t)
		if len(held) == 0 {
			continue
		}
		resp := &discoveryv3.DiscoveryResponse{TypeUrl: typeURLs[t], VersionInfo: n.hold.version[t]}
		for _, r := range held {
			resp.Resources = append(resp.Resources, r.body)
		}
		out = append(out, resp)
	}
	return out
}

func writeDump(dir string, nodes []*node) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dump directory: %w", err)
	}
	for _, n := range nodes {
		if err := writeNodeDump(filepath.Join(dir, n.id+".pb"), n.snapshotResponses()); err != nil {
			return err
		}
	}
	return nil
}

func writeNodeDump(path string, resps []*discoveryv3.DiscoveryResponse) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, resp := range resps {
		if _, err := protodelim.MarshalTo(w, resp); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// readNodeDump returns the resources of one node's dump by type and name.
func readNodeDump(path string) ([numTypes]map[string]*anypb.Any, error) {
	var out [numTypes]map[string]*anypb.Any
	for t := range out {
		out[t] = map[string]*anypb.Any{}
	}
	f, err := os.Open(path)
	if err != nil {
		return out, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	opts := protodelim.UnmarshalOptions{MaxSize: -1}
	for i := 1; ; i++ {
		resp := &discoveryv3.DiscoveryResponse{}
		if err := opts.UnmarshalFrom(r, resp); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("%s: message %d: %w", path, i, err)
		}
		t, ok := typeFromURL(resp.TypeUrl)
		if !ok {
			return out, fmt.Errorf("%s: message %d has unknown type %q", path, i, resp.TypeUrl)
		}
		for _, body := range resp.Resources {
			if body.TypeUrl != resp.TypeUrl {
				return out, fmt.Errorf("%s: %s message holds a resource of type %q", path, t, body.TypeUrl)
			}
			name, err := resourceName(body.Value)
			if err != nil {
				return out, fmt.Errorf("%s: %s: %w", path, t, err)
			}
			out[t][name] = body
		}
	}
}

// verifyDump compares what every node holds with DIR's dump and returns
// one line per difference.
func verifyDump(dir string, nodes []*node) []string {
	var diffs []string
	for _, n := range nodes {
		want, err := readNodeDump(filepath.Join(dir, n.id+".pb"))
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: cannot read dump: %v", n.id, err))
			continue
		}
		n.mu.Lock()
		for t := xdsType(0); t < numTypes; t++ {
			held := n.hold.res[t]
			for _, name := range sortedKeys(want[t]) {
				r, ok := held[name]
				switch {
				case !ok:
					diffs = append(diffs, fmt.Sprintf("%s %s %q: in the dump, not held", n.id, t, name))
				case !anyEqual(r.body, want[t][name]):
					diffs = append(diffs, fmt.Sprintf("%s %s %q: differs from the dump", n.id, t, name))
				}
			}
			for _, name := range sortedKeys(held) {
				if _, ok := want[t][name]; !ok {
					diffs = append(diffs, fmt.Sprintf("%s %s %q: held, not in the dump", n.id, t, name))
				}
			}
		}
		n.mu.Unlock()
	}
	return diffs
}
