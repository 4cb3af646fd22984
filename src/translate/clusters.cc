#include "translate/clusters.h"

#include <algorithm>
#include <optional>

#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "translate/durations.h"

namespace propsy::translate {
namespace {

// Optional values of 0 are left out: Envoy rejects zero durations, and the
// decoder only lets them through where the field has no lower bound.
uint32_t OrDefault(const std::optional<uint32_t>& value, uint32_t fallback) {
  return value && *value > 0 ? *value : fallback;
}

void AddHealthCheck(const model::HealthCheckSpec& spec,
                    envoy::config::cluster::v3::Cluster& cluster) {
  auto* check = cluster.add_health_checks();
  SetMillis(check->mutable_timeout(), OrDefault(spec.timeout_ms, kDefaultHealthCheckTimeoutMs));
  SetMillis(check->mutable_interval(), OrDefault(spec.interval_ms, kDefaultHealthCheckIntervalMs));
  check->mutable_unhealthy_threshold()->set_value(
      OrDefault(spec.unhealthy_threshold, kDefaultUnhealthyThreshold));
  check->mutable_healthy_threshold()->set_value(
      OrDefault(spec.healthy_threshold, kDefaultHealthyThreshold));
  check->mutable_reuse_connection()->set_value(spec.reuse_connection);
  switch (spec.type) {
    case model::HealthCheckType::kHttp:
    case model::HealthCheckType::kHttp2: {
      auto* http = check->mutable_http_health_check();
      http->set_path(spec.http_path.empty() ? "/" : spec.http_path);
      if (!spec.http_host.empty()) http->set_host(spec.http_host);
      if (spec.type == model::HealthCheckType::kHttp2) {
        http->set_codec_client_type(envoy::type::v3::HTTP2);
      }
      break;
    }
    case model::HealthCheckType::kTcp:
      check->mutable_tcp_health_check();
      break;
    case model::HealthCheckType::kGrpc:
      check->mutable_grpc_health_check();
      break;
  }
}

void AddOutlierDetection(const model::OutlierDetectionSpec& spec,
                         envoy::config::cluster::v3::Cluster& cluster) {
  auto* outlier = cluster.mutable_outlier_detection();
  if (spec.consecutive_errors)
    outlier->mutable_consecutive_5xx()->set_value(*spec.consecutive_errors);
  if (spec.consecutive_gw_errors) {
    outlier->mutable_consecutive_gateway_failure()->set_value(*spec.consecutive_gw_errors);
    // Envoy enforces gateway-failure ejection at 0% by default: asking for
    // it without enforcing it would do nothing.
    outlier->mutable_enforcing_consecutive_gateway_failure()->set_value(100);
  }
  if (spec.interval_ms && *spec.interval_ms > 0)
    SetMillis(outlier->mutable_interval(), *spec.interval_ms);
  if (spec.ejection_time_ms && *spec.ejection_time_ms > 0) {
    SetMillis(outlier->mutable_base_ejection_time(), *spec.ejection_time_ms);
  }
  if (spec.ejection_percent) {
    outlier->mutable_max_ejection_percent()->set_value(
        std::min<uint32_t>(*spec.ejection_percent, 100));
  }
  if (spec.minimum_hosts)
    outlier->mutable_success_rate_minimum_hosts()->set_value(*spec.minimum_hosts);
  if (spec.minimum_requests) {
    outlier->mutable_success_rate_request_volume()->set_value(*spec.minimum_requests);
  }
}

}  // namespace

envoy::config::cluster::v3::Cluster BuildCluster(
    const std::string& name, const model::ProPsyServiceSpec& spec,
    const envoy::config::core::v3::ConfigSource& eds_source) {
  envoy::config::cluster::v3::Cluster cluster;
  cluster.set_name(name);
  cluster.set_type(envoy::config::cluster::v3::Cluster::EDS);
  *cluster.mutable_eds_cluster_config()->mutable_eds_config() = eds_source;
  cluster.mutable_eds_cluster_config()->set_service_name(name);
  cluster.set_lb_policy(envoy::config::cluster::v3::Cluster::ROUND_ROBIN);
  if (spec.connect_timeout_ms && *spec.connect_timeout_ms > 0) {
    SetMillis(cluster.mutable_connect_timeout(), *spec.connect_timeout_ms);
  }

  const bool grpc_health_check =
      spec.health_check && spec.health_check->type == model::HealthCheckType::kGrpc;
  const bool limit_requests =
      spec.type == model::ServiceType::kHttp && spec.max_requests_per_connection > 0;
  if (grpc_health_check || limit_requests) {
    envoy::extensions::upstreams::http::v3::HttpProtocolOptions options;
    // Envoy requires one upstream protocol choice; gRPC health checks need
    // HTTP/2 to the upstream, otherwise keep HTTP/1.1 as without options.
    auto* explicit_config = options.mutable_explicit_http_config();
    if (grpc_health_check) {
      explicit_config->mutable_http2_protocol_options();
    } else {
      explicit_config->mutable_http_protocol_options();
    }
    if (limit_requests) {
      options.mutable_common_http_protocol_options()
          ->mutable_max_requests_per_connection()
          ->set_value(spec.max_requests_per_connection);
    }
    (*cluster.mutable_typed_extension_protocol_options())[kHttpProtocolOptionsKey].PackFrom(
        options);
  }
  if (spec.health_check) AddHealthCheck(*spec.health_check, cluster);
  if (spec.outlier_detection) AddOutlierDetection(*spec.outlier_detection, cluster);
  return cluster;
}

}  // namespace propsy::translate
