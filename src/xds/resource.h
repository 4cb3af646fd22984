#pragma once

#include <google/protobuf/any.pb.h>
#include <google/protobuf/message.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "xds/resource_type.h"

namespace propsy::xds {

// One xDS resource, serialized once. Immutable and shared by every node and
// stream that serves it.
struct Resource {
  std::string name;
  std::string version;         // content hash of the serialized message
  google::protobuf::Any body;  // type_url + deterministic serialization
};
using ResourcePtr = std::shared_ptr<const Resource>;

// Serializes `message` deterministically and wraps it as a Resource.
ResourcePtr MakeResource(std::string name, const google::protobuf::Message& message);

// Interns resources by content: every caller that builds an identical resource
// (same name, same bytes) gets the same shared instance, so a resource served
// to a thousand nodes exists once in memory. Thread-safe.
class ResourceInterner {
 public:
  ResourcePtr Intern(std::string name, const google::protobuf::Message& message);
  // Number of distinct live resources (for metrics and tests).
  size_t LiveCount() const;

 private:
  mutable absl::Mutex mu_;
  // Key: name + '\0' + version. Entries expire when no snapshot uses them.
  std::unordered_map<std::string, std::weak_ptr<const Resource>> entries_ ABSL_GUARDED_BY(mu_);
  size_t inserts_since_sweep_ ABSL_GUARDED_BY(mu_) = 0;
};

// The version of a set of resources: a content hash of every (name, version)
// pair in name order. The one definition for whole snapshots' sets and for
// the subsets a stream sends, so equal sets always get equal versions.
std::string SetVersion(const std::map<std::string, ResourcePtr>& resources);

// All resources of one type for one node, sorted by name, with the version of
// the whole set. Shared between nodes whose sets are equal.
struct TypeResources {
  std::map<std::string, ResourcePtr> by_name;
  std::string version;  // SetVersion(by_name)

  static std::shared_ptr<const TypeResources> Make(std::map<std::string, ResourcePtr> by_name);
  static const std::shared_ptr<const TypeResources>& Empty();
};

}  // namespace propsy::xds
