#include "control/snapshot_conversion.h"

#include <map>
#include <string>

namespace propsy::control {
namespace {

template <typename Message, typename NameOf>
std::shared_ptr<const xds::TypeResources> Intern(const std::vector<Message>& messages,
                                                 xds::ResourceInterner& interner, NameOf name_of) {
  std::map<std::string, xds::ResourcePtr> by_name;
  for (const Message& message : messages) {
    std::string name = name_of(message);
    by_name.emplace(name, interner.Intern(name, message));
  }
  return xds::TypeResources::Make(std::move(by_name));
}

}  // namespace

absl::StatusOr<xds::SnapshotPtr> ToSnapshot(const translate::NodeResources& resources,
                                            xds::ResourceInterner& interner) {
  auto by_name = [](const auto& message) { return message.name(); };
  xds::NodeSnapshot::Types types;
  types[xds::Index(xds::ResourceType::kSecret)] = Intern(resources.secrets, interner, by_name);
  types[xds::Index(xds::ResourceType::kCluster)] = Intern(resources.clusters, interner, by_name);
  types[xds::Index(xds::ResourceType::kEndpoint)] = Intern(
      resources.endpoints, interner, [](const auto& message) { return message.cluster_name(); });
  types[xds::Index(xds::ResourceType::kListener)] = Intern(resources.listeners, interner, by_name);
  types[xds::Index(xds::ResourceType::kRoute)] = Intern(resources.routes, interner, by_name);
  auto snapshot = std::make_shared<const xds::NodeSnapshot>(std::move(types));
  if (absl::Status status = snapshot->CheckConsistent(); !status.ok()) return status;
  return snapshot;
}

}  // namespace propsy::control
