#include "xds/warming.h"

#include "envoy/config/cluster/v3/cluster.pb.h"

namespace propsy::xds {

std::optional<std::string> LoadAssignmentNameOf(const Resource& cluster) {
  envoy::config::cluster::v3::Cluster parsed;
  if (!cluster.body.UnpackTo(&parsed)) return std::nullopt;
  if (parsed.type() != envoy::config::cluster::v3::Cluster::EDS) return std::nullopt;
  const std::string& service_name = parsed.eds_cluster_config().service_name();
  return service_name.empty() ? parsed.name() : service_name;
}

}  // namespace propsy::xds
