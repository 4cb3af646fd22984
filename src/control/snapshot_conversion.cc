#include "control/snapshot_conversion.h"

namespace propsy::control {

absl::StatusOr<xds::SnapshotPtr> ToSnapshot(const translate::NodeResources& resources,
                                            xds::ResourceInterner& interner) {
  auto by_name = [](const auto& message) { return message.name(); };
  xds::NodeSnapshot::Types types;
  types[xds::Index(xds::ResourceType::kSecret)] = InternAll(resources.secrets, interner, by_name);
  types[xds::Index(xds::ResourceType::kCluster)] = InternAll(resources.clusters, interner, by_name);
  types[xds::Index(xds::ResourceType::kEndpoint)] = InternAll(
      resources.endpoints, interner, [](const auto& message) { return message.cluster_name(); });
  types[xds::Index(xds::ResourceType::kListener)] =
      InternAll(resources.listeners, interner, by_name);
  types[xds::Index(xds::ResourceType::kRoute)] = InternAll(resources.routes, interner, by_name);
  auto snapshot = std::make_shared<const xds::NodeSnapshot>(std::move(types));
  if (absl::Status status = snapshot->CheckConsistent(); !status.ok()) return status;
  return snapshot;
}

}  // namespace propsy::control
