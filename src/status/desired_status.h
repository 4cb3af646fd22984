#pragma once

// The status each ProPsyService object should carry (SPEC §2): pure, from
// the World and the nodes' progress; no I/O, no clock (the time of a
// transition is passed in).

#include <cstddef>
#include <string>
#include <vector>

#include "model/service_status.h"
#include "model/world.h"
#include "status/node_progress.h"
#include "translate/object_status.h"
#include "translate/translate.h"

namespace propsy::status {

// One object's desired status and where it goes.
struct DesiredStatus {
  size_t config_cluster = 0;  // index into World::config_clusters
  model::ObjectKey key;
  std::string uid;
  std::string resource_version;  // as the World has it
  int64_t generation = 0;
  // Accepted, ResolvedRefs (definitions only), Programmed; `status` is them
  // in metav1 shape against the status the World shows.
  std::vector<translate::ServiceCondition> conditions;
  model::ServiceStatus status;
};

// The Programmed condition of an object that its report accepts (True):
// True once every connected node that the object governs for and targets
// holds its resources (listener, route configuration, clusters and load
// assignments named after it) acknowledged at the versions of the node's
// current snapshot; False/Pending ("3/4 nodes acknowledged") or
// False/Rejected (names a node, the resource and the NACK's message). An
// object that is not accepted, or whose references do not resolve, is not
// programmed: False with that condition's reason.
translate::ServiceCondition ProgrammedCondition(const translate::ObjectReport& report,
                                                const model::ProPsyServiceSpec* spec,
                                                const std::vector<NodeProgress>& nodes,
                                                const std::vector<std::string>& config_zones,
                                                const std::string& default_zone);

// Conditions in metav1.Condition shape with the object's generation; a
// condition whose status is unchanged from `current` keeps its
// lastTransitionTime, any other gets `now` (RFC 3339). Programmed latches
// per generation: once `current` says True for this generation, a node that
// has not answered yet (a new connection) does not turn it back to Pending
// (status would otherwise churn with every Envoy that connects); a NACK
// (Rejected) still does.
model::ServiceStatus ToServiceStatus(int64_t generation,
                                     const std::vector<translate::ServiceCondition>& conditions,
                                     const model::ServiceStatus& current, const std::string& now);

// Desired statuses of every object of the config clusters `include` says
// yes to (by index), in the World's order. `reports` is
// translate::DescribeObjects(world, options) (callers reuse it while the
// config clusters' objects are unchanged).
std::vector<DesiredStatus> ComputeDesiredStatuses(
    const model::World& world, const translate::TranslateOptions& options,
    const std::vector<translate::ObjectReport>& reports, const std::vector<NodeProgress>& nodes,
    const std::vector<bool>& include, const std::string& now);

// Whether two statuses say the same: equal observedGeneration and equal
// conditions, in any order.
bool SameStatus(const model::ServiceStatus& a, const model::ServiceStatus& b);

// "2026-01-02T03:04:05Z" for a wall-clock time.
std::string Rfc3339(std::chrono::system_clock::time_point time);
// "2026-01-02T03:04:05.123456Z" (Kubernetes MicroTime).
std::string Rfc3339Micro(std::chrono::system_clock::time_point time);

}  // namespace propsy::status
