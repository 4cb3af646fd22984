#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/cluster_objects.h"

namespace propsy::model {

// A config or endpoint cluster as given on the command line.
struct ClusterInfo {
  std::string name;    // unique among clusters of its role; used as sub-zone
  std::string source;  // kubeconfig path, "incluster" or "dir:PATH"
  std::string zone;
  int priority = 0;  // endpoint clusters only; unique among them
  bool operator==(const ClusterInfo&) const = default;
};

struct ClusterView {
  ClusterInfo info;
  ClusterObjectsPtr objects;  // never null (empty before the first sync)
  bool synced = false;        // the initial list finished
  bool stale = false;         // unreachable now; `objects` is the last known state
  int64_t stale_since_unix_ms = 0;
  // What the cluster's ProPsyService objects show (status, resourceVersion);
  // only the status writer reads it. Null counts as empty.
  ShownStatusesPtr statuses = nullptr;
};

// Everything ProPsy knows, as one immutable value: the config clusters in
// flag order and the endpoint clusters in flag order. Translation reads all
// of it but the statuses.
struct World {
  std::vector<ClusterView> config_clusters;
  std::vector<ClusterView> endpoint_clusters;
};
using WorldPtr = std::shared_ptr<const World>;

// Whether two Worlds hold the same configuration: the same clusters, in the
// same state, with the same objects (by identity: sources share unchanged
// snapshots). They may differ in the statuses their objects show.
bool SameConfiguration(const World& a, const World& b);

// What a cluster's ProPsyService `key` shows; empty when nothing is known.
const ShownStatus& ShownStatusOf(const ClusterView& cluster, const ObjectKey& key);

}  // namespace propsy::model
