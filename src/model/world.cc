#include "model/world.h"

#include <algorithm>

namespace propsy::model {
namespace {

bool SameViews(const std::vector<ClusterView>& a, const std::vector<ClusterView>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const ClusterView& x, const ClusterView& y) {
                      return x.info == y.info && x.objects == y.objects && x.synced == y.synced &&
                             x.stale == y.stale && x.stale_since_unix_ms == y.stale_since_unix_ms;
                    });
}

}  // namespace

bool SameConfiguration(const World& a, const World& b) {
  return SameViews(a.config_clusters, b.config_clusters) &&
         SameViews(a.endpoint_clusters, b.endpoint_clusters);
}

const ShownStatus& ShownStatusOf(const ClusterView& cluster, const ObjectKey& key) {
  static const ShownStatus kNothing;
  if (cluster.statuses == nullptr) return kNothing;
  const auto found = cluster.statuses->find(key);
  return found == cluster.statuses->end() ? kNothing : found->second;
}

}  // namespace propsy::model
