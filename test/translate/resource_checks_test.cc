// Every generated resource passes the validation rules Envoy applies on
// load (the subset in proto_validation.h), and every typed_config carries
// the type its extension name expects.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "translate/proto_validation.h"
#include "translate/resource_views.h"
#include "translate/translate.h"
#include "translate/world_builder.h"

namespace propsy::translate {
namespace {

using test::Pps;
using test::Ready;
using test::Slice;
using test::WorldBuilder;

constexpr char kCert[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
constexpr char kKey[] = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

// Uses every feature: HTTP and TCP, TLS on both, canary, remotes, health
// checks of every kind, outlier detection, connection limits.
model::World RichWorld() {
  WorldBuilder builder;
  builder.ConfigCluster("foo", "foo").ConfigCluster("bar", "bar");
  builder.EndpointCluster("foo0", "foo", 0).EndpointCluster("bar1", "bar", 1);

  model::ProPsyService web = Pps("shop", "web", "web");
  web.spec.percent = 30;
  web.spec.canary_service = "web-canary";
  web.spec.canary_percent = 5;
  web.spec.tls_certificate_secret = "tls";
  web.spec.listen.port = 443;
  web.spec.timeout_ms = 800;
  web.spec.connect_timeout_ms = 800;
  web.spec.max_requests_per_connection = 10;
  web.spec.health_check = model::HealthCheckSpec{.type = model::HealthCheckType::kHttp2,
                                                 .timeout_ms = std::nullopt,
                                                 .interval_ms = 2000,
                                                 .healthy_threshold = std::nullopt,
                                                 .unhealthy_threshold = 2,
                                                 .reuse_connection = true,
                                                 .http_path = "/health",
                                                 .http_host = "web"};
  web.spec.outlier_detection = model::OutlierDetectionSpec{.consecutive_errors = 5,
                                                           .consecutive_gw_errors = 3,
                                                           .interval_ms = 10000,
                                                           .ejection_time_ms = 30000,
                                                           .ejection_percent = 100,
                                                           .minimum_hosts = 5,
                                                           .minimum_requests = 100};
  model::ProPsyService api = Pps("shop", "api", "api");
  api.spec.listen.port = 443;
  api.spec.path_prefix = "/api/";
  api.spec.prefix_rewrite = "/";
  api.spec.health_check = model::HealthCheckSpec{};
  api.spec.health_check->type = model::HealthCheckType::kGrpc;
  model::ProPsyService db = Pps("shop", "db", "db");
  db.spec.type = model::ServiceType::kTcp;
  db.spec.listen = {.host = "::", .port = 5432};
  db.spec.percent = 50;
  db.spec.tls_certificate_secret = "tls";
  db.spec.health_check = model::HealthCheckSpec{};
  db.spec.health_check->type = model::HealthCheckType::kTcp;

  builder.Service("foo", web).Service("foo", api).Service("foo", db);
  builder.Secret("foo", "shop", "tls", kCert, kKey);
  for (const std::string service : {"web", "web-canary", "api", "db"}) {
    builder.Endpoints("foo0", Slice("shop", service, service + "-0", {Ready("10.0.0.1")}));
    builder.Endpoints("bar1", Slice("shop", service, service + "-1", {Ready("10.1.0.1")}));
  }
  return builder.Build();
}

const std::map<std::string, std::string> kTypedConfigTypes = {
    {"envoy.filters.network.http_connection_manager",
     "type.googleapis.com/"
     "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"},
    {"envoy.filters.network.tcp_proxy",
     "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"},
    {"envoy.filters.http.router",
     "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    {"envoy.transport_sockets.tls",
     "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"},
};

void ExpectValid(const google::protobuf::Message& message, const std::string& name) {
  EXPECT_EQ(test::ValidationErrors(message), std::vector<std::string>{}) << name;
}

class ResourceChecks : public testing::TestWithParam<bool> {};

TEST_P(ResourceChecks, EveryResourcePassesValidation) {
  for (const std::string zone : {"foo", "bar"}) {
    NodeResources out = Translate(RichWorld(), {.id = "edge", .zone = zone, .uses_ads = GetParam()},
                                  {.default_zone = "foo", .xds_cluster_name = "xds_cluster"});
    ASSERT_EQ(out.listeners.size(), 2u);
    ASSERT_EQ(out.secrets.size(), 1u);
    for (const auto& m : out.listeners) ExpectValid(m, m.name());
    for (const auto& m : out.routes) ExpectValid(m, m.name());
    for (const auto& m : out.clusters) ExpectValid(m, m.name());
    for (const auto& m : out.endpoints) ExpectValid(m, m.cluster_name());
    for (const auto& m : out.secrets) ExpectValid(m, m.name());
  }
}

TEST_P(ResourceChecks, TypedConfigsMatchTheirExtensionNames) {
  NodeResources out = Translate(RichWorld(), {.id = "edge", .zone = "", .uses_ads = GetParam()},
                                {.default_zone = "foo", .xds_cluster_name = "xds_cluster"});
  int checked = 0;
  auto expect_type = [&checked](const std::string& name, const google::protobuf::Any& any) {
    ASSERT_EQ(kTypedConfigTypes.count(name), 1u) << name;
    EXPECT_EQ(any.type_url(), kTypedConfigTypes.at(name));
    ++checked;
  };
  for (const auto& listener : out.listeners) {
    for (const auto& chain : listener.filter_chains()) {
      for (const auto& filter : chain.filters()) expect_type(filter.name(), filter.typed_config());
      expect_type(chain.transport_socket().name(), chain.transport_socket().typed_config());
    }
    if (listener.name() == "0.0.0.0:443") {
      const auto manager = test::HcmOf(listener);
      for (const auto& filter : manager.http_filters()) {
        expect_type(filter.name(), filter.typed_config());
      }
    }
  }
  EXPECT_EQ(checked, 5);  // two filters, two transport sockets, one router
  for (const auto& cluster : out.clusters) {
    for (const auto& [name, any] : cluster.typed_extension_protocol_options()) {
      EXPECT_EQ(name, "envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
      EXPECT_EQ(any.type_url(),
                "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AdsAndXdsCluster, ResourceChecks, testing::Bool());

TEST(ResourceChecks, HealthChecksAndOutlierDetectionApplyToEveryClusterOfAService) {
  NodeResources out = Translate(RichWorld(), {.id = "edge", .zone = "", .uses_ads = true},
                                {.default_zone = "foo", .xds_cluster_name = "xds_cluster"});
  for (const std::string name : {"shop/web/primary", "shop/web/remote/bar1", "shop/web/canary"}) {
    const auto* cluster = test::FindCluster(out, name);
    ASSERT_NE(cluster, nullptr) << name;
    ASSERT_EQ(cluster->health_checks_size(), 1) << name;
    EXPECT_EQ(cluster->health_checks(0).http_health_check().path(), "/health");
    EXPECT_EQ(cluster->outlier_detection().consecutive_5xx().value(), 5u);
    EXPECT_EQ(cluster->connect_timeout().nanos(), 800000000);
  }
}

TEST(ProtoValidation, ReportsViolations) {
  // The checker itself must catch what Envoy would reject.
  envoy::config::cluster::v3::Cluster cluster;
  cluster.mutable_outlier_detection()->mutable_max_ejection_percent()->set_value(150);
  cluster.add_health_checks();  // no timeout, interval, thresholds or checker
  auto* options = &(*cluster.mutable_typed_extension_protocol_options())["x"];
  options->set_type_url("type.googleapis.com/no.such.Type");
  const std::vector<std::string> errors = test::ValidationErrors(cluster);
  auto mentions = [&errors](const std::string& text) {
    for (const std::string& error : errors) {
      if (error.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(mentions("max_ejection_percent")) << testing::PrintToString(errors);
  EXPECT_TRUE(mentions("health_checks[0].timeout")) << testing::PrintToString(errors);
  EXPECT_TRUE(mentions("health_checks[0].health_checker")) << testing::PrintToString(errors);
  EXPECT_TRUE(mentions("unknown type no.such.Type")) << testing::PrintToString(errors);
}

}  // namespace
}  // namespace propsy::translate
