#pragma once

#include <string_view>

#include "envoy/config/core/v3/config_source.pb.h"

namespace propsy::translate {

// Where a node fetches the RDS, EDS and SDS resources that its listeners and
// clusters name: ADS when the node uses ADS, else a gRPC API config source
// through the node's static cluster `xds_cluster_name`. Both ask for v3.
envoy::config::core::v3::ConfigSource MakeConfigSource(bool uses_ads,
                                                       std::string_view xds_cluster_name);

}  // namespace propsy::translate
