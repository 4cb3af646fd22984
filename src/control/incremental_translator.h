#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "model/world.h"
#include "translate/listeners.h"
#include "translate/service_resolution.h"
#include "translate/translate.h"
#include "xds/resource.h"
#include "xds/snapshot.h"

namespace propsy::control {

// How much translation work publishes caused, since start.
struct TranslationCounters {
  uint64_t services_translated = 0;  // service parts (clusters, load assignments) built
  uint64_t services_reused = 0;      // service parts found unchanged in a new World
  uint64_t node_classes_built = 0;   // node classes whose snapshot was assembled
  // Assembled snapshots that failed the consistency check (their nodes keep
  // their last good snapshot).
  uint64_t inconsistent_snapshots = 0;
};

// Translate() + ToSnapshot() for many nodes and a stream of Worlds, doing
// work in proportion to what changed. Gives the same snapshot, resource for
// resource, as ToSnapshot(Translate(world, node)).
//
// Two observations make it cheap:
// - A service's clusters and load assignments depend on its definition and
//   endpoints, the local zone and the transport (ADS or not), never on the
//   node (translate::TranslateServiceClusters). They are built once per
//   (zone, transport, service) and rebuilt only when those inputs change:
//   endpoint sets are compared by pointer (sources share unchanged sets
//   between snapshots), definitions by pointer, then by value.
// - Nodes with the same zone, transport and set of targeting services get
//   the same snapshot: a node class. A class's listeners are rebuilt only
//   when the config clusters changed or a service's route targets did; an
//   endpoint change only swaps the class's clusters and load assignments.
//
// Assumes the lists of config and endpoint clusters (names, zones,
// priorities) stay the same between Worlds; when they differ, everything is
// rebuilt. Not thread-safe: the owner serializes calls.
class IncrementalTranslator {
 public:
  IncrementalTranslator(translate::TranslateOptions options, xds::ResourceInterner& interner);
  ~IncrementalTranslator();

  // Makes `world` current; later SnapshotFor calls translate it.
  void SetWorld(model::WorldPtr world);
  // The node's snapshot in the current World, or the consistency error of
  // its translation. Requires a current World.
  absl::StatusOr<xds::SnapshotPtr> SnapshotFor(const translate::NodeContext& node);
  // Forgets every cached part no SnapshotFor call used since SetWorld, so
  // departed nodes and deleted services do not hold memory.
  void Prune();

  const TranslationCounters& counters() const { return counters_; }

 private:
  struct ZoneState;
  struct ZoneView;
  struct NodeClass;
  struct ServicePart;
  struct ServicePartSlot;

  ZoneState& ZoneFor(const std::string& zone);
  std::unique_ptr<ZoneView> BuildZoneView(const std::string& zone) const;
  NodeClass& ClassFor(ZoneView& view, const std::string& node_id, bool uses_ads);
  // Brings the class's snapshot up to the current World.
  void Refresh(ZoneState& zone, NodeClass& node_class, bool uses_ads);
  // The class's snapshot from its listener parts and service parts.
  void Assemble(const ZoneState& zone, NodeClass& node_class, bool uses_ads);
  // The service's part in the current World, in its slot.
  ServicePartSlot& PartFor(ZoneState& zone, uint32_t service, bool uses_ads);
  // Which services of the view (by index) have an endpoint set that changed
  // since the previous World; meaningful only when !all_changed_.
  const std::vector<bool>& EndpointsChanged(ZoneView& view);

  const translate::TranslateOptions options_;
  xds::ResourceInterner& interner_;
  model::WorldPtr world_;
  uint64_t generation_ = 0;  // bumped by SetWorld
  // What differs from the previous World: everything, or only the endpoint
  // sets of these services. Lets a part checked in the previous World be
  // reused without looking at its inputs.
  bool all_changed_ = true;
  std::set<model::ObjectKey> changed_endpoint_sets_;
  std::map<std::string, std::unique_ptr<ZoneState>> zones_;
  TranslationCounters counters_;
};

}  // namespace propsy::control
