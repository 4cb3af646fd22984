package main

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"sort"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	// Registered so that anypb.UnmarshalNew can decode endpoints and routes
	// when content is compared semantically.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// xdsType indexes the resource types a simulated Envoy subscribes to, in the
// order Envoy needs them (and the order dumps are written in).
type xdsType int

const (
	cds xdsType = iota
	eds
	lds
	rds
	sds
	numTypes
)

var typeURLs = [numTypes]string{
	cds: resourcev3.ClusterType,
	eds: resourcev3.EndpointType,
	lds: resourcev3.ListenerType,
	rds: resourcev3.RouteType,
	sds: resourcev3.SecretType,
}

var typeNames = [numTypes]string{cds: "CDS", eds: "EDS", lds: "LDS", rds: "RDS", sds: "SDS"}

func (t xdsType) String() string { return typeNames[t] }

// wildcard reports whether the type is subscribed as a whole (CDS, LDS)
// rather than by the names other resources reference.
func (t xdsType) wildcard() bool { return t == cds || t == lds }

func typeFromURL(url string) (xdsType, bool) {
	for t, u := range typeURLs {
		if u == url {
			return xdsType(t), true
		}
	}
	return 0, false
}

const hcmTypeURL = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

// refs are the names a cluster or listener makes Envoy subscribe to.
type refs struct {
	eds, rds, sds []string
}

// resource is one received resource. Resources are interned: all nodes that
// receive the same bytes share one *resource, which keeps the load
// generator's memory proportional to distinct content, not to nodes.
type resource struct {
	name string
	body *anypb.Any
	refs refs
}

// sameContent reports whether two resources carry the same configuration.
// Equal bytes are the common case; different bytes are decoded and compared
// as messages, since a server need not serialize deterministically.
func sameContent(a, b *resource) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return anyEqual(a.body, b.body)
}

func anyEqual(a, b *anypb.Any) bool {
	if a.TypeUrl != b.TypeUrl {
		return false
	}
	if bytes.Equal(a.Value, b.Value) {
		return true
	}
	ma, errA := a.UnmarshalNew()
	mb, errB := b.UnmarshalNew()
	if errA != nil || errB != nil {
		return false
	}
	return proto.Equal(ma, mb)
}

// resourceName reads a resource's name without decoding the whole message:
// Cluster.name, ClusterLoadAssignment.cluster_name, Listener.name,
// RouteConfiguration.name and Secret.name are all field 1 of type string.
func resourceName(value []byte) (string, error) {
	for len(value) > 0 {
		num, typ, n := protowire.ConsumeTag(value)
		if n < 0 {
			return "", fmt.Errorf("malformed resource: %v", protowire.ParseError(n))
		}
		value = value[n:]
		if num == 1 && typ == protowire.BytesType {
			name, m := protowire.ConsumeString(value)
			if m < 0 {
				return "", fmt.Errorf("malformed resource name: %v", protowire.ParseError(m))
			}
			return name, nil
		}
		m := protowire.ConsumeFieldValue(num, typ, value)
		if m < 0 {
			return "", fmt.Errorf("malformed resource field %d: %v", num, protowire.ParseError(m))
		}
		value = value[m:]
	}
	return "", fmt.Errorf("resource has no name")
}

// interner shares identical resources between nodes.
type interner struct {
	mu      sync.Mutex
	seed    maphash.Seed
	buckets map[uint64][]*resource
}

func newInterner() *interner {
	return &interner{seed: maphash.MakeSeed(), buckets: map[uint64][]*resource{}}
}

// intern returns the shared resource for body. name is the name the server
// gave (delta); empty means read it from the body (state of the world).
func (in *interner) intern(t xdsType, name string, body *anypb.Any) (*resource, error) {
	if body.TypeUrl != typeURLs[t] {
		return nil, fmt.Errorf("%s response carries a resource of type %q", t, body.TypeUrl)
	}
	inner, err := resourceName(body.Value)
	if err != nil {
		return nil, fmt.Errorf("%s resource: %w", t, err)
	}
	if name == "" {
		name = inner
	}
	key := maphash.Bytes(in.seed, body.Value) ^ maphash.String(in.seed, name)
	in.mu.Lock()
	for _, r := range in.buckets[key] {
		if r.name == name && r.body.TypeUrl == body.TypeUrl && bytes.Equal(r.body.Value, body.Value) {
			in.mu.Unlock()
			return r, nil
		}
	}
	in.mu.Unlock()
	// References are extracted outside the lock: decoding a listener is the
	// expensive part, and a race only means one duplicate decode.
	r := &resource{name: name, body: body}
	if r.refs, err = extractRefs(t, body); err != nil {
		return nil, fmt.Errorf("%s resource %q: %w", t, name, err)
	}
	in.mu.Lock()
	in.buckets[key] = append(in.buckets[key], r)
	in.mu.Unlock()
	return r, nil
}

// extractRefs finds what a cluster or listener makes Envoy subscribe to:
// endpoints of EDS clusters, RDS route configurations of HTTP connection
// managers, and SDS secrets of TLS transport sockets.
func extractRefs(t xdsType, body *anypb.Any) (refs, error) {
	var out refs
	switch t {
	case cds:
		c := &clusterv3.Cluster{}
		if err := body.UnmarshalTo(c); err != nil {
			return out, err
		}
		if c.GetType() == clusterv3.Cluster_EDS {
			name := c.GetEdsClusterConfig().GetServiceName()
			if name == "" {
				name = c.GetName()
			}
			out.eds = []string{name}
		}
		if ts := c.GetTransportSocket().GetTypedConfig(); ts != nil {
			utc := &tlsv3.UpstreamTlsContext{}
			if ts.MessageIs(utc) {
				if err := ts.UnmarshalTo(utc); err != nil {
					return out, err
				}
				out.sds = sdsNames(utc.GetCommonTlsContext())
			}
		}
	case lds:
		l := &listenerv3.Listener{}
		if err := body.UnmarshalTo(l); err != nil {
			return out, err
		}
		chains := l.GetFilterChains()
		if l.GetDefaultFilterChain() != nil {
			chains = append(chains, l.GetDefaultFilterChain())
		}
		for _, fc := range chains {
			if err := chainRefs(fc, &out); err != nil {
				return out, err
			}
		}
		out.rds = sortedUnique(out.rds)
		out.sds = sortedUnique(out.sds)
	}
	return out, nil
}

func chainRefs(fc *listenerv3.FilterChain, out *refs) error {
	for _, f := range fc.GetFilters() {
		tc := f.GetTypedConfig()
		if tc == nil || tc.TypeUrl != hcmTypeURL {
			continue
		}
		hcm := &hcmv3.HttpConnectionManager{}
		if err := tc.UnmarshalTo(hcm); err != nil {
			return fmt.Errorf("filter %q: %w", f.GetName(), err)
		}
		if name := hcm.GetRds().GetRouteConfigName(); name != "" {
			out.rds = append(out.rds, name)
		}
	}
	if ts := fc.GetTransportSocket().GetTypedConfig(); ts != nil {
		dtc := &tlsv3.DownstreamTlsContext{}
		if ts.MessageIs(dtc) {
			if err := ts.UnmarshalTo(dtc); err != nil {
				return fmt.Errorf("transport socket: %w", err)
			}
			out.sds = append(out.sds, sdsNames(dtc.GetCommonTlsContext())...)
		}
	}
	return nil
}

// sdsNames lists secrets fetched dynamically; an SdsSecretConfig without
// sds_config names a static bootstrap secret, which is never requested.
func sdsNames(ctx *tlsv3.CommonTlsContext) []string {
	var names []string
	add := func(c *tlsv3.SdsSecretConfig) {
		if c != nil && c.GetSdsConfig() != nil && c.GetName() != "" {
			names = append(names, c.GetName())
		}
	}
	for _, c := range ctx.GetTlsCertificateSdsSecretConfigs() {
		add(c)
	}
	add(ctx.GetValidationContextSdsSecretConfig())
	add(ctx.GetCombinedValidationContext().GetValidationContextSdsSecretConfig())
	return names
}

func sortedUnique(names []string) []string {
	sort.Strings(names)
	out := names[:0]
	for i, n := range names {
		if i == 0 || n != names[i-1] {
			out = append(out, n)
		}
	}
	return out
}

// envoyNode is the identity a simulated Envoy reports.
func envoyNode(id, zone string) *corev3.Node {
	return &corev3.Node{
		Id:            id,
		Locality:      &corev3.Locality{Zone: zone},
		UserAgentName: "envoy",
	}
}
