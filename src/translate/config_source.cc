#include "translate/config_source.h"

#include <string>

namespace propsy::translate {

envoy::config::core::v3::ConfigSource MakeConfigSource(bool uses_ads,
                                                       std::string_view xds_cluster_name) {
  envoy::config::core::v3::ConfigSource source;
  source.set_resource_api_version(envoy::config::core::v3::V3);
  if (uses_ads) {
    source.mutable_ads();
    return source;
  }
  auto* api = source.mutable_api_config_source();
  api->set_api_type(envoy::config::core::v3::ApiConfigSource::GRPC);
  api->set_transport_api_version(envoy::config::core::v3::V3);
  api->add_grpc_services()->mutable_envoy_grpc()->set_cluster_name(std::string(xds_cluster_name));
  return source;
}

}  // namespace propsy::translate
