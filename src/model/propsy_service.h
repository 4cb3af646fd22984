#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/listen_address.h"
#include "model/object_meta.h"

namespace propsy::model {

enum class ServiceType { kHttp, kTcp };
enum class HealthCheckType { kHttp, kHttp2, kTcp, kGrpc };

// Active health checking of upstream hosts (healthCheck* fields).
struct HealthCheckSpec {
  HealthCheckType type = HealthCheckType::kHttp;
  std::optional<uint32_t> timeout_ms;
  std::optional<uint32_t> interval_ms;
  std::optional<uint32_t> healthy_threshold;
  std::optional<uint32_t> unhealthy_threshold;
  bool reuse_connection = false;
  std::string http_path;  // HTTP/HTTP2; empty = "/"
  std::string http_host;
  auto operator<=>(const HealthCheckSpec&) const = default;
};

// Outlier detection (healthCheckOutlier* fields); absent fields keep Envoy's
// defaults.
struct OutlierDetectionSpec {
  std::optional<uint32_t> consecutive_errors;     // consecutive_5xx
  std::optional<uint32_t> consecutive_gw_errors;  // consecutive_gateway_failure
  std::optional<uint32_t> interval_ms;
  std::optional<uint32_t> ejection_time_ms;  // base_ejection_time
  std::optional<uint32_t> ejection_percent;  // max_ejection_percent
  std::optional<uint32_t> minimum_hosts;     // success_rate_minimum_hosts
  std::optional<uint32_t> minimum_requests;  // success_rate_request_volume
  auto operator<=>(const OutlierDetectionSpec&) const = default;
};

// The validated `spec` of a ProPsyService (SPEC §2). Defaults are applied:
// type HTTP, pathPrefix "/", connect timeout = timeout when absent (capped
// at 60000 ms, the connect timeout's maximum, when timeout is longer).
// At least one of service_port / service_port_name is set.
struct ProPsyServiceSpec {
  std::string service;
  uint32_t service_port = 0;
  std::string service_port_name;  // when set, the slice port of this name wins
  ListenAddress listen;
  std::vector<std::string> nodes;  // "*" = every node
  uint32_t percent = 0;
  std::string canary_service;
  uint32_t canary_percent = 0;
  ServiceType type = ServiceType::kHttp;
  std::string path_prefix = "/";
  std::string prefix_rewrite;  // empty = no rewrite
  std::optional<uint32_t> timeout_ms;
  std::optional<uint32_t> connect_timeout_ms;  // already defaulted to timeout
  uint32_t max_requests_per_connection = 0;    // 0 = unlimited
  std::string tls_certificate_secret;          // empty = plaintext listener
  std::optional<HealthCheckSpec> health_check;
  std::optional<OutlierDetectionSpec> outlier_detection;  // set iff enabled
  bool disabled = false;
  auto operator<=>(const ProPsyServiceSpec&) const = default;
};

struct ProPsyService {
  ObjectMeta meta;
  ProPsyServiceSpec spec;
  bool operator==(const ProPsyService&) const = default;
};

inline constexpr char kProPsyGroup[] = "propsy.seznam.cz";
inline constexpr char kProPsyApiVersion[] = "propsy.seznam.cz/v1";
inline constexpr char kProPsyKind[] = "ProPsyService";

// Decodes and validates one ProPsyService object (apiVersion, kind, metadata,
// spec). Never trusts a schema to have run. On failure the status message
// lists every problem by field path, e.g.
// "spec.percent: must be between 0 and 100, got 150; spec.listen: missing".
//
// Choices where SPEC leaves room:
// - metadata.namespace defaults to "default" when absent: manifests in files
//   often leave it out (kubectl would fill in its context's namespace,
//   usually "default"). The same holds for every decoder of this folder.
// - servicePort is required unless servicePortName is given; with both, the
//   name picks the port per slice.
// - Unknown spec fields are errors naming the field (files have no schema to
//   prune a typo such as `precent`); null values count as absent.
// - type and healthCheckType are case-insensitive; `path` is an alias of
//   pathPrefix and the ...Threshold spellings of the ...Treshold fields
//   (both given with different values is an error).
// - healthCheck* fields need healthCheckType; healthCheckOutlier* fields are
//   validated always and take effect only with healthCheckOutlierEnabled.
// - A TCP service must not set pathPrefix (other than "/") or prefixRewrite.
absl::StatusOr<ProPsyService> DecodeProPsyService(const rapidjson::Value& object);

}  // namespace propsy::model
