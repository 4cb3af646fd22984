#pragma once

#include <string>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/core/v3/config_source.pb.h"
#include "model/propsy_service.h"

namespace propsy::translate {

inline constexpr char kHttpProtocolOptionsKey[] =
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

// Health check values used when the definition leaves them out.
inline constexpr uint32_t kDefaultHealthCheckTimeoutMs = 1000;
inline constexpr uint32_t kDefaultHealthCheckIntervalMs = 10000;
inline constexpr uint32_t kDefaultUnhealthyThreshold = 3;
inline constexpr uint32_t kDefaultHealthyThreshold = 2;

// An EDS cluster of one service (its primary, a remote or its canary):
// endpoints come from `eds_source` under the cluster's own name; connect
// timeout, connection reuse limit, health checks and outlier detection come
// from `spec` (the governing definition), the same for all of a service's
// clusters.
envoy::config::cluster::v3::Cluster BuildCluster(
    const std::string& name, const model::ProPsyServiceSpec& spec,
    const envoy::config::core::v3::ConfigSource& eds_source);

}  // namespace propsy::translate
