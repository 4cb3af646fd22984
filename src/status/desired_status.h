#pragma once

// The status each ProPsyService object should carry (SPEC §2): pure, from
// the World and the nodes' progress; no I/O, no clock (the time of a
// transition is passed in).

#include <cstddef>
#include <functional>
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

// What the connected nodes did with one object's generation: those of one
// replica (CountNodeProgress, and what a replica reports), or of every
// replica combined (fleet_progress.h).
struct ObjectProgress {
  int64_t generation = 0;
  size_t acknowledged = 0;
  size_t targeted = 0;
  // The first rejection: "node edge-2 rejected listener 0.0.0.0:80: <NACK
  // message>"; empty when no node rejected anything.
  std::string rejection = {};
  // Replicas whose report does not cover this generation yet (they may
  // have nodes still to count): "replica propsy-b_1".
  std::vector<std::string> unreported = {};

  // Nothing holds the object back: every targeted node acknowledged it and
  // every replica reported.
  bool Complete() const {
    return rejection.empty() && acknowledged >= targeted && unreported.empty();
  }
  bool operator==(const ObjectProgress&) const = default;
};

// The definition an object's report lets nodes be programmed with: its last
// good spec when it is accepted and its references resolve; else null.
const model::ProPsyServiceSpec* ProgrammableSpec(const model::World& world,
                                                 const translate::ObjectReport& report);

// Each config cluster's zone, in the World's order.
std::vector<std::string> ConfigZones(const model::World& world);

// This replica's nodes that the object governs for and targets (`nodes`),
// and how many of them hold its resources (listener, route configuration,
// clusters and load assignments named after it) acknowledged at the
// versions of the node's current snapshot; the first NACK among them.
ObjectProgress CountNodeProgress(const translate::ObjectReport& report,
                                 const model::ProPsyServiceSpec& spec,
                                 const NodeProgressIndex& nodes,
                                 const std::vector<std::string>& config_zones,
                                 const std::string& default_zone);

// The Programmed condition (SPEC §2) from the progress of every replica's
// nodes: True when Complete(); False/Pending ("3/4 nodes acknowledged",
// plus "; waiting for replica X's report" while one has not reported) or
// False/Rejected (the rejection and the count). An object that is not
// accepted, or whose references do not resolve (`spec` null), is not
// programmed: False with that condition's reason.
translate::ServiceCondition ProgrammedCondition(const translate::ObjectReport& report,
                                                const model::ProPsyServiceSpec* spec,
                                                const ObjectProgress& progress);
// The same from this replica's nodes alone.
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

// An accepted object's progress over every replica's nodes, given its
// report and programmable spec.
using ProgressOf = std::function<ObjectProgress(const translate::ObjectReport& report,
                                                const model::ProPsyServiceSpec& spec)>;

// Desired statuses of every object of the config clusters `include` says
// yes to (by index), in the World's order. `reports` is
// translate::DescribeObjects(world, options) (callers reuse it while the
// config clusters' objects are unchanged).
std::vector<DesiredStatus> ComputeDesiredStatuses(
    const model::World& world, const std::vector<translate::ObjectReport>& reports,
    const ProgressOf& progress_of, const std::vector<bool>& include, const std::string& now);

// Whether two statuses say the same: equal observedGeneration and equal
// conditions, in any order.
bool SameStatus(const model::ServiceStatus& a, const model::ServiceStatus& b);

// "2026-01-02T03:04:05Z" for a wall-clock time.
std::string Rfc3339(std::chrono::system_clock::time_point time);
// "2026-01-02T03:04:05.123456Z" (Kubernetes MicroTime).
std::string Rfc3339Micro(std::chrono::system_clock::time_point time);

}  // namespace propsy::status
