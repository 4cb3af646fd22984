package main

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
}

func edsCluster(name, serviceName string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: serviceName},
	}
}

func loadAssignment(name, address string) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: address, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080}}}},
		}}}},
	}}}
}

// httpsListener has an HTTP connection manager on RDS and a TLS certificate
// over SDS (dynamic) plus a validation context from bootstrap (static).
func httpsListener(t *testing.T, name, route, secret string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{StatPrefix: name, RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{
		Rds: &hcmv3.Rds{ConfigSource: adsSource(), RouteConfigName: route}}}
	tlsCtx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: secret, SdsConfig: adsSource()}},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: "static-ca"}},
	}}
	return &listenerv3.Listener{Name: name, FilterChains: []*listenerv3.FilterChain{{
		Filters: []*listenerv3.Filter{{Name: "envoy.filters.network.http_connection_manager",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, hcm)}}},
		TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, tlsCtx)}},
	}}}
}

func internAll(t *testing.T, in *interner, typ xdsType, msgs ...proto.Message) []*resource {
	t.Helper()
	var out []*resource
	for _, m := range msgs {
		r, err := in.intern(typ, "", mustAny(t, m))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func changeFor(changes []subChange, typ xdsType) *subChange {
	for i := range changes {
		if changes[i].t == typ {
			return &changes[i]
		}
	}
	return nil
}

func TestSubscriptionOrderAndCompleteness(t *testing.T) {
	in := newInterner()
	h := newHoldings()
	h.requested[cds] = true
	static := &clusterv3.Cluster{Name: "static", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}}

	if !h.applySotW(cds, "c1", internAll(t, in, cds, edsCluster("a", "svc-a"), edsCluster("b", ""), static)) {
		t.Fatal("first CDS response not a change")
	}
	changes, _ := h.resubscribe()
	if c := changeFor(changes, eds); c == nil || strings.Join(c.names, ",") != "b,svc-a" {
		t.Fatalf("EDS subscription: got %+v (service_name, else the cluster name)", changes)
	}
	if changeFor(changes, lds) != nil {
		t.Fatal("LDS requested before the clusters have endpoints")
	}
	if h.complete() || !strings.Contains(h.missing(), "2 of 2 EDS") {
		t.Fatalf("complete too early; missing: %s", h.missing())
	}

	h.applySotW(eds, "e1", internAll(t, in, eds, loadAssignment("svc-a", "10.0.0.1")))
	if changes, _ = h.resubscribe(); changeFor(changes, lds) != nil {
		t.Fatal("LDS requested with one endpoint set missing")
	}
	// A state-of-the-world EDS response may carry only what changed: the
	// endpoints held for svc-a stay. Unsubscribed names are ignored.
	h.applySotW(eds, "e2", internAll(t, in, eds, loadAssignment("b", "10.0.0.2"), loadAssignment("other", "10.0.0.3")))
	if h.res[eds]["svc-a"] == nil || h.res[eds]["other"] != nil {
		t.Fatalf("EDS held: %v", sortedKeys(h.res[eds]))
	}
	changes, _ = h.resubscribe()
	if changeFor(changes, lds) == nil || !h.requested[lds] {
		t.Fatalf("LDS not requested once every cluster has endpoints: %+v", changes)
	}
	if changes, _ = h.resubscribe(); len(changes) != 0 {
		t.Fatalf("LDS requested twice: %+v", changes)
	}

	h.applySotW(lds, "l1", internAll(t, in, lds, httpsListener(t, "https", "routes-443", "web-tls")))
	changes, _ = h.resubscribe()
	if c := changeFor(changes, rds); c == nil || strings.Join(c.names, ",") != "routes-443" {
		t.Fatalf("RDS subscription: %+v", changes)
	}
	if c := changeFor(changes, sds); c == nil || strings.Join(c.names, ",") != "web-tls" {
		t.Fatalf("SDS subscription (static secrets excluded): %+v", changes)
	}
	if h.complete() {
		t.Fatal("complete without routes and secrets")
	}
	h.applySotW(rds, "r1", internAll(t, in, rds, &routev3.RouteConfiguration{Name: "routes-443"}))
	if h.complete() || !strings.Contains(h.missing(), "SDS") {
		t.Fatalf("complete without the secret; missing: %s", h.missing())
	}
	h.applySotW(sds, "s1", internAll(t, in, sds, &tlsv3.Secret{Name: "web-tls"}))
	if !h.complete() {
		t.Fatalf("not complete; missing: %s", h.missing())
	}

	// Repeated content is not a change; new content is.
	if h.applySotW(eds, "e3", internAll(t, in, eds, loadAssignment("b", "10.0.0.2"))) {
		t.Error("identical endpoints counted as a change")
	}
	if !h.applySotW(eds, "e4", internAll(t, in, eds, loadAssignment("b", "10.0.0.9"))) {
		t.Error("new endpoint address not counted as a change")
	}

	// A cluster going away unsubscribes its endpoints and drops them.
	h.applySotW(cds, "c2", internAll(t, in, cds, edsCluster("a", "svc-a")))
	changes, dropped := h.resubscribe()
	if c := changeFor(changes, eds); c == nil || strings.Join(c.removed, ",") != "b" || !dropped || h.res[eds]["b"] != nil {
		t.Fatalf("EDS after cluster removal: %+v dropped=%v", changes, dropped)
	}
	if !h.complete() {
		t.Fatalf("not complete after removal; missing: %s", h.missing())
	}

	// Delta: a removed resource is gone and the node is incomplete again.
	if !h.applyDelta(eds, nil, []string{"svc-a"}) || h.complete() {
		t.Fatal("delta removal not applied")
	}
	if h.applyDelta(eds, nil, []string{"never-held"}) {
		t.Error("removing an unknown name counted as a change")
	}
}

func TestWildcardReplaceCountsRemovalAsChange(t *testing.T) {
	in := newInterner()
	h := newHoldings()
	h.applySotW(lds, "1", internAll(t, in, lds, &listenerv3.Listener{Name: "a"}, &listenerv3.Listener{Name: "b"}))
	if !h.applySotW(lds, "2", internAll(t, in, lds, &listenerv3.Listener{Name: "a"})) {
		t.Fatal("listener removal not a change")
	}
	if h.applySotW(lds, "3", internAll(t, in, lds, &listenerv3.Listener{Name: "a"})) {
		t.Fatal("same set counted as a change")
	}
}

func TestInternerSharesAndComparesContent(t *testing.T) {
	in := newInterner()
	a := internAll(t, in, cds, edsCluster("a", ""))[0]
	b := internAll(t, in, cds, edsCluster("a", ""))[0]
	if a != b {
		t.Fatal("identical bytes not shared")
	}
	// The same message with fields in another order: other bytes, same
	// content.
	name, _ := proto.Marshal(&clusterv3.Cluster{Name: "x"})
	timeout, _ := proto.Marshal(&clusterv3.Cluster{ConnectTimeout: durationpb.New(5e9)})
	x1, err := in.intern(cds, "", &anypb.Any{TypeUrl: typeURLs[cds], Value: append(append([]byte{}, name...), timeout...)})
	if err != nil {
		t.Fatal(err)
	}
	x2, err := in.intern(cds, "", &anypb.Any{TypeUrl: typeURLs[cds], Value: append(append([]byte{}, timeout...), name...)})
	if err != nil {
		t.Fatal(err)
	}
	if x1 == x2 || x2.name != "x" || !sameContent(x1, x2) {
		t.Fatalf("reordered fields: shared=%v name=%q same=%v", x1 == x2, x2.name, sameContent(x1, x2))
	}
	if sameContent(a, x1) {
		t.Fatal("different clusters compare equal")
	}
	if _, err := in.intern(eds, "", mustAny(t, edsCluster("a", ""))); err == nil {
		t.Fatal("a cluster in an EDS response was accepted")
	}
	if _, err := in.intern(cds, "", &anypb.Any{TypeUrl: typeURLs[cds], Value: []byte{0xff}}); err == nil {
		t.Fatal("malformed bytes accepted")
	}
}
