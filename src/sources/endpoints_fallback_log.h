#pragma once

#include <set>
#include <string>

#include "model/cluster_objects.h"

namespace propsy::sources {

// Says in the log, once per service, when a service of one cluster starts
// using its core/v1 Endpoints because the cluster has no EndpointSlice for
// it (SPEC §3), and when it stops: the fallback is never silent. Used by
// one source thread.
class EndpointsFallbackLog {
 public:
  explicit EndpointsFallbackLog(std::string source) : source_(std::move(source)) {}

  // Looks at `objects` (cheap to call with the same snapshot again).
  void Update(const model::ClusterObjectsPtr& objects);

 private:
  const std::string source_;
  model::ClusterObjectsPtr last_;
  std::set<model::ObjectKey> using_core_endpoints_;
};

}  // namespace propsy::sources
