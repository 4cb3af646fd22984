#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>

namespace propsy::model {

// Namespace and name of a Kubernetes object; the identity of a service
// across config clusters ("service key") and of endpoints within a cluster.
struct ObjectKey {
  std::string namespace_name;
  std::string name;

  std::string ToString() const { return namespace_name + "/" + name; }
  auto operator<=>(const ObjectKey&) const = default;
};

// The parts of metadata ProPsy uses.
struct ObjectMeta {
  ObjectKey key;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  // RFC 3339 as written by the API server ("2024-01-02T03:04:05Z"); compared
  // as text, which orders correctly for that fixed format. Empty sorts first
  // (manifests in files usually have none: they are then ordered by key).
  std::string creation_timestamp;
  std::map<std::string, std::string> labels;

  bool operator==(const ObjectMeta&) const = default;
};

}  // namespace propsy::model
