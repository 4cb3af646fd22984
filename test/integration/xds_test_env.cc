#include "integration/xds_test_env.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <thread>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb.h"
#include "envoy/service/status/v3/csds.grpc.pb.h"
#include "integration/xds_client.h"

namespace propsy::xds::testing {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::config::listener::v3::Listener;
using envoy::config::route::v3::RouteConfiguration;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
using envoy::extensions::transport_sockets::tls::v3::Secret;

// The name a resource body declares for itself.
std::string NameOf(const google::protobuf::Any& body) {
  if (Cluster cluster; body.UnpackTo(&cluster)) return cluster.name();
  if (ClusterLoadAssignment assignment; body.UnpackTo(&assignment)) {
    return assignment.cluster_name();
  }
  if (Listener listener; body.UnpackTo(&listener)) return listener.name();
  if (RouteConfiguration route; body.UnpackTo(&route)) return route.name();
  if (Secret secret; body.UnpackTo(&secret)) return secret.name();
  ADD_FAILURE() << "unexpected resource type " << body.type_url();
  return "";
}

}  // namespace

ResourcePtr ClusterResource(const std::string& name, int connect_timeout_ms) {
  Cluster cluster;
  cluster.set_name(name);
  cluster.set_type(Cluster::EDS);
  cluster.mutable_eds_cluster_config()->mutable_eds_config()->mutable_ads();
  cluster.mutable_eds_cluster_config()->mutable_eds_config()->set_resource_api_version(
      envoy::config::core::v3::V3);
  cluster.mutable_connect_timeout()->set_nanos(connect_timeout_ms * 1'000'000);
  return MakeResource(name, cluster);
}

ResourcePtr EndpointsResource(const std::string& cluster_name, int port) {
  ClusterLoadAssignment assignment;
  assignment.set_cluster_name(cluster_name);
  auto* address = assignment.add_endpoints()
                      ->add_lb_endpoints()
                      ->mutable_endpoint()
                      ->mutable_address()
                      ->mutable_socket_address();
  address->set_address("10.0.0.1");
  address->set_port_value(port);
  return MakeResource(cluster_name, assignment);
}

ResourcePtr ListenerResource(const std::string& name, const std::string& route_name, int port) {
  HttpConnectionManager hcm;
  hcm.set_stat_prefix(name);
  hcm.mutable_rds()->set_route_config_name(route_name);
  hcm.mutable_rds()->mutable_config_source()->mutable_ads();
  hcm.mutable_rds()->mutable_config_source()->set_resource_api_version(envoy::config::core::v3::V3);
  auto* router = hcm.add_http_filters();
  router->set_name("envoy.filters.http.router");
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router());

  Listener listener;
  listener.set_name(name);
  auto* address = listener.mutable_address()->mutable_socket_address();
  address->set_address("0.0.0.0");
  address->set_port_value(port);
  auto* filter = listener.add_filter_chains()->add_filters();
  filter->set_name("envoy.filters.network.http_connection_manager");
  filter->mutable_typed_config()->PackFrom(hcm);
  return MakeResource(name, listener);
}

ResourcePtr RouteResource(const std::string& name, const std::string& cluster,
                          const std::string& prefix) {
  RouteConfiguration config;
  config.set_name(name);
  auto* host = config.add_virtual_hosts();
  host->set_name(name);
  host->add_domains("*");
  auto* route = host->add_routes();
  route->mutable_match()->set_prefix(prefix);
  route->mutable_route()->set_cluster(cluster);
  return MakeResource(name, config);
}

ResourcePtr SecretResource(const std::string& name, const std::string& marker) {
  Secret secret;
  secret.set_name(name);
  secret.mutable_tls_certificate()->mutable_certificate_chain()->set_inline_string(
      "-----BEGIN CERTIFICATE-----\n" + marker + "\n-----END CERTIFICATE-----\n");
  secret.mutable_tls_certificate()->mutable_private_key()->set_inline_string(
      "-----BEGIN PRIVATE KEY-----\n" + marker + "\n-----END PRIVATE KEY-----\n");
  return MakeResource(name, secret);
}

SnapshotPtr MakeSnapshot(const std::vector<Entry>& entries) {
  NodeSnapshotBuilder builder;
  for (const auto& [type, resource] : entries) builder.Add(type, resource);
  return builder.Build();
}

SnapshotPtr ServicesSnapshot(const std::vector<std::string>& services, int generation) {
  std::vector<Entry> entries;
  int port = 10000;
  for (const std::string& service : services) {
    ++port;
    entries.emplace_back(ResourceType::kCluster, ClusterResource("c-" + service));
    entries.emplace_back(ResourceType::kEndpoint,
                         EndpointsResource("c-" + service, 20000 + generation));
    entries.emplace_back(ResourceType::kListener,
                         ListenerResource("l-" + service, "r-" + service, port));
    entries.emplace_back(ResourceType::kRoute, RouteResource("r-" + service, "c-" + service));
    entries.emplace_back(ResourceType::kSecret, SecretResource("s-" + service));
  }
  SnapshotPtr snapshot = MakeSnapshot(entries);
  EXPECT_TRUE(snapshot->CheckConsistent().ok());
  return snapshot;
}

std::set<std::string> Names(const envoy::service::discovery::v3::DiscoveryResponse& response) {
  std::set<std::string> names;
  for (const auto& body : response.resources()) {
    EXPECT_EQ(body.type_url(), response.type_url());
    names.insert(NameOf(body));
  }
  return names;
}

std::set<std::string> Names(const envoy::service::discovery::v3::DeltaDiscoveryResponse& response) {
  std::set<std::string> names;
  for (const auto& resource : response.resources()) {
    EXPECT_EQ(resource.resource().type_url(), response.type_url());
    EXPECT_EQ(NameOf(resource.resource()), resource.name());
    EXPECT_FALSE(resource.version().empty());
    names.insert(resource.name());
  }
  return names;
}

std::set<std::string> Removed(
    const envoy::service::discovery::v3::DeltaDiscoveryResponse& response) {
  return {response.removed_resources().begin(), response.removed_resources().end()};
}

int EndpointPort(const envoy::service::discovery::v3::DiscoveryResponse& response,
                 const std::string& name) {
  for (const auto& body : response.resources()) {
    ClusterLoadAssignment assignment;
    if (body.UnpackTo(&assignment) && assignment.cluster_name() == name) {
      return static_cast<int>(assignment.endpoints(0)
                                  .lb_endpoints(0)
                                  .endpoint()
                                  .address()
                                  .socket_address()
                                  .port_value());
    }
  }
  return -1;
}

std::string Url(ResourceType type) { return std::string(TypeUrl(type)); }

std::optional<envoy::service::status::v3::ClientConfig::GenericXdsConfig> CsdsEntry(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& node, ResourceType type,
    const std::string& name) {
  auto stub = envoy::service::status::v3::ClientStatusDiscoveryService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kExpectWithin));
  envoy::service::status::v3::ClientStatusRequest request;
  request.add_node_matchers()->mutable_node_id()->set_exact(node);
  envoy::service::status::v3::ClientStatusResponse response;
  grpc::Status status = stub->FetchClientStatus(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  for (const auto& config : response.config()) {
    EXPECT_EQ(config.node().id(), node);
    for (const auto& entry : config.generic_xds_configs()) {
      if (entry.type_url() == Url(type) && entry.name() == name) return entry;
    }
  }
  return std::nullopt;
}

std::optional<envoy::service::status::v3::ClientConfig::GenericXdsConfig> AwaitCsdsEntry(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& node, ResourceType type,
    const std::string& name,
    const std::function<bool(const envoy::service::status::v3::ClientConfig::GenericXdsConfig&)>&
        done) {
  std::optional<envoy::service::status::v3::ClientConfig::GenericXdsConfig> entry;
  const auto until = std::chrono::steady_clock::now() + kExpectWithin;
  while (std::chrono::steady_clock::now() < until) {
    entry = CsdsEntry(channel, node, type, name);
    if (entry.has_value() && done(*entry)) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return entry;
}

void XdsServerTest::StartServer(XdsServerOptions options) {
  options.listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<XdsServer>> server =
      XdsServer::Start(options, cache_, registry_, clock_);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = std::move(*server);
  ASSERT_GT(server_->port(), 0);
}

std::string XdsServerTest::Address() const { return fmt::format("127.0.0.1:{}", server_->port()); }

std::shared_ptr<grpc::Channel> XdsServerTest::InsecureChannel() const {
  return grpc::CreateChannel(Address(), grpc::InsecureChannelCredentials());
}

}  // namespace propsy::xds::testing
