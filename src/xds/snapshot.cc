#include "xds/snapshot.h"

#include <fmt/format.h>

#include <set>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"

namespace propsy::xds {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::listener::v3::Listener;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;

absl::Status CheckPresent(const NodeSnapshot& snapshot, ResourceType type,
                          const std::set<std::string>& names, std::string_view referrer) {
  const auto& present = snapshot.Of(type).by_name;
  for (const std::string& name : names) {
    if (!present.contains(name)) {
      return absl::FailedPreconditionError(
          fmt::format("{} references {} \"{}\" which is absent", referrer, ShortName(type), name));
    }
  }
  return absl::OkStatus();
}

}  // namespace

NodeSnapshot::NodeSnapshot(Types types) : types_(std::move(types)) {
  for (auto& set : types_) {
    if (!set) set = TypeResources::Empty();
  }
}

absl::Status NodeSnapshot::CheckConsistent() const {
  std::set<std::string> eds_names;
  for (const auto& [name, resource] : Of(ResourceType::kCluster).by_name) {
    Cluster cluster;
    if (!resource->body.UnpackTo(&cluster)) {
      return absl::InternalError(fmt::format("cluster \"{}\" does not decode", name));
    }
    if (cluster.type() == Cluster::EDS) {
      eds_names.insert(cluster.eds_cluster_config().service_name().empty()
                           ? cluster.name()
                           : cluster.eds_cluster_config().service_name());
    }
  }
  if (auto status = CheckPresent(*this, ResourceType::kEndpoint, eds_names, "an EDS cluster");
      !status.ok()) {
    return status;
  }
  std::set<std::string> route_names;
  for (const auto& [name, resource] : Of(ResourceType::kListener).by_name) {
    Listener listener;
    if (!resource->body.UnpackTo(&listener)) {
      return absl::InternalError(fmt::format("listener \"{}\" does not decode", name));
    }
    for (const auto& chain : listener.filter_chains()) {
      for (const auto& filter : chain.filters()) {
        HttpConnectionManager hcm;
        if (filter.typed_config().UnpackTo(&hcm) && hcm.has_rds()) {
          route_names.insert(hcm.rds().route_config_name());
        }
      }
    }
  }
  return CheckPresent(*this, ResourceType::kRoute, route_names, "a listener");
}

NodeSnapshotBuilder& NodeSnapshotBuilder::Add(ResourceType type, ResourcePtr resource) {
  types_[Index(type)][resource->name] = std::move(resource);
  return *this;
}

SnapshotPtr NodeSnapshotBuilder::Build() const {
  NodeSnapshot::Types types;
  for (ResourceType type : kAllResourceTypes) {
    types[Index(type)] = TypeResources::Make(types_[Index(type)]);
  }
  return std::make_shared<const NodeSnapshot>(std::move(types));
}

}  // namespace propsy::xds
