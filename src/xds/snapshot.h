#pragma once

#include <array>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "xds/resource.h"
#include "xds/resource_type.h"

namespace propsy::xds {

// Everything one node is served: one TypeResources per resource type.
// Immutable once built; streams hold it by shared_ptr while they send from it.
class NodeSnapshot {
 public:
  using Types = std::array<std::shared_ptr<const TypeResources>, kResourceTypeCount>;

  // Types left null are empty.
  explicit NodeSnapshot(Types types);

  const TypeResources& Of(ResourceType type) const { return *types_[Index(type)]; }
  const std::shared_ptr<const TypeResources>& SharedOf(ResourceType type) const {
    return types_[Index(type)];
  }

  // Checks that every route configuration named by a listener and every
  // load assignment named by an EDS cluster is present, so an Envoy is never
  // left waiting for a resource that will not come.
  absl::Status CheckConsistent() const;

 private:
  Types types_;
};
using SnapshotPtr = std::shared_ptr<const NodeSnapshot>;

// Builds a snapshot from loose resources; convenient for tests and tools.
class NodeSnapshotBuilder {
 public:
  NodeSnapshotBuilder& Add(ResourceType type, ResourcePtr resource);
  SnapshotPtr Build() const;

 private:
  std::array<std::map<std::string, ResourcePtr>, kResourceTypeCount> types_;
};

}  // namespace propsy::xds
