// Envoy cluster settings from the governing definition.

#include "translate/clusters.h"

#include <gtest/gtest.h>

#include <string>

#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "translate/config_source.h"
#include "translate/world_builder.h"

namespace propsy::translate {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::extensions::upstreams::http::v3::HttpProtocolOptions;

const envoy::config::core::v3::ConfigSource kAds = MakeConfigSource(true, "xds_cluster");

model::ProPsyServiceSpec BaseSpec() { return test::Pps("ns", "web").spec; }

TEST(BuildCluster, EdsRoundRobinWithoutOptionalSettings) {
  model::ProPsyServiceSpec spec = BaseSpec();
  Cluster cluster = BuildCluster("ns/web/primary", spec, kAds);
  EXPECT_EQ(cluster.name(), "ns/web/primary");
  EXPECT_EQ(cluster.type(), Cluster::EDS);
  EXPECT_EQ(cluster.lb_policy(), Cluster::ROUND_ROBIN);
  EXPECT_EQ(cluster.eds_cluster_config().service_name(), "ns/web/primary");
  EXPECT_TRUE(cluster.eds_cluster_config().eds_config().has_ads());
  EXPECT_FALSE(cluster.has_connect_timeout());
  EXPECT_TRUE(cluster.typed_extension_protocol_options().empty());
  EXPECT_EQ(cluster.health_checks_size(), 0);
  EXPECT_FALSE(cluster.has_outlier_detection());
}

TEST(BuildCluster, ConnectTimeoutAndMaxRequestsPerConnection) {
  model::ProPsyServiceSpec spec = BaseSpec();
  spec.connect_timeout_ms = 800;
  spec.max_requests_per_connection = 50;
  Cluster cluster = BuildCluster("c", spec, kAds);
  EXPECT_EQ(cluster.connect_timeout().seconds(), 0);
  EXPECT_EQ(cluster.connect_timeout().nanos(), 800000000);
  ASSERT_EQ(cluster.typed_extension_protocol_options().count(kHttpProtocolOptionsKey), 1u);
  HttpProtocolOptions options;
  ASSERT_TRUE(
      cluster.typed_extension_protocol_options().at(kHttpProtocolOptionsKey).UnpackTo(&options));
  EXPECT_EQ(options.common_http_protocol_options().max_requests_per_connection().value(), 50u);
  EXPECT_TRUE(options.explicit_http_config().has_http_protocol_options());

  spec.type = model::ServiceType::kTcp;  // no HTTP upstream to limit
  EXPECT_TRUE(BuildCluster("c", spec, kAds).typed_extension_protocol_options().empty());
}

TEST(BuildCluster, HttpHealthCheckDefaults) {
  model::ProPsyServiceSpec spec = BaseSpec();
  spec.health_check = model::HealthCheckSpec{};
  Cluster cluster = BuildCluster("c", spec, kAds);
  ASSERT_EQ(cluster.health_checks_size(), 1);
  const auto& check = cluster.health_checks(0);
  EXPECT_EQ(check.timeout().seconds(), 1);
  EXPECT_EQ(check.interval().seconds(), 10);
  EXPECT_EQ(check.unhealthy_threshold().value(), 3u);
  EXPECT_EQ(check.healthy_threshold().value(), 2u);
  EXPECT_FALSE(check.reuse_connection().value());
  EXPECT_EQ(check.http_health_check().path(), "/");
  EXPECT_EQ(check.http_health_check().host(), "");
  EXPECT_EQ(check.http_health_check().codec_client_type(), envoy::type::v3::HTTP1);
}

TEST(BuildCluster, HealthCheckKindsAndValues) {
  model::ProPsyServiceSpec spec = BaseSpec();
  spec.health_check = model::HealthCheckSpec{.type = model::HealthCheckType::kHttp2,
                                             .timeout_ms = 250,
                                             .interval_ms = 3000,
                                             .healthy_threshold = 4,
                                             .unhealthy_threshold = 5,
                                             .reuse_connection = true,
                                             .http_path = "/healthz",
                                             .http_host = "web.internal"};
  auto check = BuildCluster("c", spec, kAds).health_checks(0);
  EXPECT_EQ(check.timeout().nanos(), 250000000);
  EXPECT_EQ(check.interval().seconds(), 3);
  EXPECT_EQ(check.healthy_threshold().value(), 4u);
  EXPECT_EQ(check.unhealthy_threshold().value(), 5u);
  EXPECT_TRUE(check.reuse_connection().value());
  EXPECT_EQ(check.http_health_check().path(), "/healthz");
  EXPECT_EQ(check.http_health_check().host(), "web.internal");
  EXPECT_EQ(check.http_health_check().codec_client_type(), envoy::type::v3::HTTP2);

  spec.health_check->type = model::HealthCheckType::kTcp;
  check = BuildCluster("c", spec, kAds).health_checks(0);
  EXPECT_TRUE(check.has_tcp_health_check());

  spec.health_check->type = model::HealthCheckType::kGrpc;
  Cluster grpc = BuildCluster("c", spec, kAds);
  EXPECT_TRUE(grpc.health_checks(0).has_grpc_health_check());
  HttpProtocolOptions options;
  ASSERT_TRUE(
      grpc.typed_extension_protocol_options().at(kHttpProtocolOptionsKey).UnpackTo(&options));
  EXPECT_TRUE(options.explicit_http_config().has_http2_protocol_options());
  EXPECT_FALSE(options.has_common_http_protocol_options());
}

TEST(BuildCluster, OutlierDetection) {
  model::ProPsyServiceSpec spec = BaseSpec();
  spec.outlier_detection = model::OutlierDetectionSpec{};
  Cluster cluster = BuildCluster("c", spec, kAds);
  ASSERT_TRUE(cluster.has_outlier_detection());
  EXPECT_FALSE(cluster.outlier_detection().has_consecutive_5xx());
  EXPECT_FALSE(cluster.outlier_detection().has_enforcing_consecutive_gateway_failure());

  spec.outlier_detection = model::OutlierDetectionSpec{.consecutive_errors = 7,
                                                       .consecutive_gw_errors = 3,
                                                       .interval_ms = 5000,
                                                       .ejection_time_ms = 30000,
                                                       .ejection_percent = 50,
                                                       .minimum_hosts = 2,
                                                       .minimum_requests = 20};
  const auto outlier = BuildCluster("c", spec, kAds).outlier_detection();
  EXPECT_EQ(outlier.consecutive_5xx().value(), 7u);
  EXPECT_EQ(outlier.consecutive_gateway_failure().value(), 3u);
  EXPECT_EQ(outlier.enforcing_consecutive_gateway_failure().value(), 100u);
  EXPECT_EQ(outlier.interval().seconds(), 5);
  EXPECT_EQ(outlier.base_ejection_time().seconds(), 30);
  EXPECT_EQ(outlier.max_ejection_percent().value(), 50u);
  EXPECT_EQ(outlier.success_rate_minimum_hosts().value(), 2u);
  EXPECT_EQ(outlier.success_rate_request_volume().value(), 20u);
}

}  // namespace
}  // namespace propsy::translate
