#include "control/incremental_translator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <iterator>

#include "control/snapshot_conversion.h"
#include "translate/config_source.h"
#include "translate/conflicts.h"
#include "translate/node_translation.h"

namespace propsy::control {
namespace {

bool SameClusterInfos(const std::vector<model::ClusterView>& a,
                      const std::vector<model::ClusterView>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const model::ClusterView& x, const model::ClusterView& y) {
                      return x.info.name == y.info.name && x.info.source == y.info.source &&
                             x.info.zone == y.info.zone && x.info.priority == y.info.priority;
                    });
}

std::vector<model::ClusterObjectsPtr> ConfigObjectsOf(const model::World& world) {
  std::vector<model::ClusterObjectsPtr> objects;
  for (const model::ClusterView& cluster : world.config_clusters)
    objects.push_back(cluster.objects);
  return objects;
}

std::shared_ptr<const model::ServiceEndpoints> EndpointsOf(const model::ClusterObjects& objects,
                                                           const model::ObjectKey& service) {
  auto it = objects.endpoints.find(service);
  return it == objects.endpoints.end() ? nullptr : it->second;
}

// Adds the services whose endpoint set differs between `before` and `after`
// (sets are shared between snapshots while unchanged, so pointers tell).
void ChangedEndpointSets(const model::ClusterObjects& before, const model::ClusterObjects& after,
                         std::set<model::ObjectKey>& changed) {
  if (&before == &after) return;
  auto old_it = before.endpoints.begin();
  auto new_it = after.endpoints.begin();
  while (old_it != before.endpoints.end() || new_it != after.endpoints.end()) {
    if (new_it == after.endpoints.end() ||
        (old_it != before.endpoints.end() && old_it->first < new_it->first)) {
      changed.insert(old_it++->first);
    } else if (old_it == before.endpoints.end() || new_it->first < old_it->first) {
      changed.insert(new_it++->first);
    } else {
      if (old_it->second != new_it->second) changed.insert(new_it->first);
      ++old_it;
      ++new_it;
    }
  }
}

}  // namespace

// One service's clusters and load assignments for one zone and transport.
struct IncrementalTranslator::ServicePart {
  std::vector<xds::ResourcePtr> clusters;
  std::vector<xds::ResourcePtr> endpoints;
  std::vector<translate::RouteTarget> targets;
};

// A ServicePart with the inputs it was built from (or last found equal to).
struct IncrementalTranslator::ServicePartSlot {
  std::shared_ptr<const ServicePart> part;
  uint64_t checked_generation = 0;
  model::ClusterObjectsPtr config_objects;  // owns *spec
  const model::ProPsyServiceSpec* spec = nullptr;
  bool governing_is_local = false;
  // Per endpoint cluster: the service's endpoint set, then its canary's.
  std::vector<std::shared_ptr<const model::ServiceEndpoints>> endpoint_sets;
};

// The nodes of one zone and transport that the same services target.
struct IncrementalTranslator::NodeClass {
  std::vector<uint32_t> services;  // targeting services, indexes into ZoneView::services
  uint64_t checked_generation = 0;
  bool built = false;
  // Services on served listeners, their parts and the slots holding those
  // parts, in listener order. A slot outlives the class: both are checked
  // in the same generation, and Prune keeps a slot checked in the current
  // one.
  std::vector<uint32_t> served;
  std::vector<std::shared_ptr<const ServicePart>> parts;
  std::vector<ServicePartSlot*> slots;
  std::shared_ptr<const xds::TypeResources> listeners;
  std::shared_ptr<const xds::TypeResources> routes;
  std::shared_ptr<const xds::TypeResources> secrets;
  absl::StatusOr<xds::SnapshotPtr> snapshot = nullptr;
};

// The services of the config clusters resolved for one zone, and who they
// target. Valid while the config clusters' objects stay the same.
struct IncrementalTranslator::ZoneView {
  std::vector<model::ClusterObjectsPtr> config_objects;  // keeps `services` valid
  std::vector<translate::ResolvedService> services;
  std::unordered_map<std::string, std::vector<uint32_t>> by_node_id;  // sorted, without "*" ones
  std::vector<uint32_t> everyone;                                     // services naming "*"
  std::map<std::pair<bool, std::vector<uint32_t>>, std::unique_ptr<NodeClass>> classes;
  // EndpointsChanged(), computed once per generation.
  std::vector<bool> endpoints_changed;
  uint64_t endpoints_changed_generation = 0;
  struct NodeEntry {
    NodeClass* node_class = nullptr;
    uint64_t used_generation = 0;
  };
  // By node id, per transport (ADS or not).
  std::array<std::unordered_map<std::string, NodeEntry>, 2> nodes;
};

struct IncrementalTranslator::ZoneState {
  std::string zone;
  std::unique_ptr<ZoneView> view;  // null until needed or after config changed
  // By uses_ads, then service key. Outlives views: a config change that
  // leaves a service's definition equal reuses its part.
  std::array<std::map<model::ObjectKey, ServicePartSlot>, 2> parts;
};

IncrementalTranslator::IncrementalTranslator(translate::TranslateOptions options,
                                             xds::ResourceInterner& interner)
    : options_(std::move(options)), interner_(interner) {}

IncrementalTranslator::~IncrementalTranslator() = default;

void IncrementalTranslator::SetWorld(model::WorldPtr world) {
  const bool same_clusters = world_ != nullptr &&
                             SameClusterInfos(world_->config_clusters, world->config_clusters) &&
                             SameClusterInfos(world_->endpoint_clusters, world->endpoint_clusters);
  if (!same_clusters) zones_.clear();
  const std::vector<model::ClusterObjectsPtr> config_objects = ConfigObjectsOf(*world);
  all_changed_ = !same_clusters || ConfigObjectsOf(*world_) != config_objects;
  changed_endpoint_sets_.clear();
  if (!all_changed_) {
    for (size_t c = 0; c < world->endpoint_clusters.size(); ++c) {
      ChangedEndpointSets(*world_->endpoint_clusters[c].objects,
                          *world->endpoint_clusters[c].objects, changed_endpoint_sets_);
    }
  }
  world_ = std::move(world);
  ++generation_;
  for (auto& [name, zone] : zones_) {
    if (zone->view != nullptr && zone->view->config_objects != config_objects) zone->view.reset();
  }
}

absl::StatusOr<xds::SnapshotPtr> IncrementalTranslator::SnapshotFor(
    const translate::NodeContext& node) {
  const std::string zone_name(translate::LocalZone(node.zone, options_.default_zone));
  ZoneState& zone = ZoneFor(zone_name);
  NodeClass& node_class = ClassFor(*zone.view, node.id, node.uses_ads);
  if (node_class.checked_generation != generation_) Refresh(zone, node_class, node.uses_ads);
  return node_class.snapshot;
}

void IncrementalTranslator::Prune() {
  for (auto& [name, zone] : zones_) {
    for (auto& parts : zone->parts) {
      std::erase_if(parts, [this](const auto& entry) {
        return entry.second.checked_generation != generation_;
      });
    }
    if (zone->view == nullptr) continue;
    // Nodes used now point only at classes refreshed now.
    for (auto& nodes : zone->view->nodes) {
      std::erase_if(
          nodes, [this](const auto& entry) { return entry.second.used_generation != generation_; });
    }
    std::erase_if(zone->view->classes, [this](const auto& entry) {
      return entry.second->checked_generation != generation_;
    });
  }
}

IncrementalTranslator::ZoneState& IncrementalTranslator::ZoneFor(const std::string& zone_name) {
  std::unique_ptr<ZoneState>& zone = zones_[zone_name];
  if (zone == nullptr) {
    zone = std::make_unique<ZoneState>();
    zone->zone = zone_name;
  }
  if (zone->view == nullptr) zone->view = BuildZoneView(zone_name);
  return *zone;
}

std::unique_ptr<IncrementalTranslator::ZoneView> IncrementalTranslator::BuildZoneView(
    const std::string& zone) const {
  auto view = std::make_unique<ZoneView>();
  view->config_objects = ConfigObjectsOf(*world_);
  view->services = translate::ResolveServices(*world_, zone);
  for (uint32_t i = 0; i < view->services.size(); ++i) {
    const translate::ResolvedService& service = view->services[i];
    if (!service.HasDefinition()) continue;
    const std::vector<std::string>& nodes = service.Spec().nodes;
    if (std::find(nodes.begin(), nodes.end(), "*") != nodes.end()) {
      view->everyone.push_back(i);
      continue;
    }
    for (const std::string& node : nodes) {
      std::vector<uint32_t>& targeting = view->by_node_id[node];
      if (targeting.empty() || targeting.back() != i) targeting.push_back(i);
    }
  }
  return view;
}

IncrementalTranslator::NodeClass& IncrementalTranslator::ClassFor(ZoneView& view,
                                                                  const std::string& node_id,
                                                                  bool uses_ads) {
  auto [node, inserted] = view.nodes[uses_ads ? 1 : 0].try_emplace(node_id);
  node->second.used_generation = generation_;
  if (!inserted) return *node->second.node_class;

  std::vector<uint32_t> targeting;
  auto named = view.by_node_id.find(node_id);
  if (named == view.by_node_id.end()) {
    targeting = view.everyone;
  } else {
    std::set_union(view.everyone.begin(), view.everyone.end(), named->second.begin(),
                   named->second.end(), std::back_inserter(targeting));
  }
  std::unique_ptr<NodeClass>& node_class = view.classes[{uses_ads, targeting}];
  if (node_class == nullptr) {
    node_class = std::make_unique<NodeClass>();
    node_class->services = std::move(targeting);
  }
  node->second.node_class = node_class.get();
  return *node_class;
}

void IncrementalTranslator::Refresh(ZoneState& zone, NodeClass& node_class, bool uses_ads) {
  // Current in the previous World, which differs from this one only in the
  // endpoint sets EndpointsChanged() names: every other part of the class
  // stands as it is, without looking it up.
  const std::vector<bool>* endpoints_changed =
      node_class.built && !all_changed_ && node_class.checked_generation + 1 == generation_
          ? &EndpointsChanged(*zone.view)
          : nullptr;
  node_class.checked_generation = generation_;
  if (node_class.built) {
    // The listeners stand as long as the config clusters (the view) and
    // every service's route targets do.
    bool parts_changed = false;
    bool targets_changed = false;
    std::vector<std::shared_ptr<const ServicePart>> parts;
    parts.reserve(node_class.served.size());
    for (size_t i = 0; i < node_class.served.size(); ++i) {
      ServicePartSlot* slot = node_class.slots[i];
      if (endpoints_changed != nullptr && !(*endpoints_changed)[node_class.served[i]]) {
        // What PartFor would find: checked in the previous World, unchanged.
        if (slot->checked_generation != generation_) {
          slot->checked_generation = generation_;
          ++counters_.services_reused;
        }
      } else {
        slot = &PartFor(zone, node_class.served[i], uses_ads);
        node_class.slots[i] = slot;
      }
      parts.push_back(slot->part);
      if (parts.back() == node_class.parts[i]) continue;
      parts_changed = true;
      targets_changed = targets_changed || parts.back()->targets != node_class.parts[i]->targets;
    }
    if (!parts_changed) return;
    if (!targets_changed) {
      node_class.parts = std::move(parts);
      Assemble(zone, node_class, uses_ads);
      return;
    }
  }

  ZoneView& view = *zone.view;
  std::vector<const translate::ResolvedService*> targeting;
  for (uint32_t index : node_class.services) targeting.push_back(&view.services[index]);
  const translate::NodePlan plan = translate::PlanListeners(std::move(targeting));
  const envoy::config::core::v3::ConfigSource source =
      translate::MakeConfigSource(uses_ads, options_.xds_cluster_name);
  node_class.served.clear();
  node_class.parts.clear();
  node_class.slots.clear();
  translate::NodeResources listeners = translate::TranslateListeners(
      *world_, plan, source, [&](const translate::ResolvedService& service) {
        auto index = static_cast<uint32_t>(&service - view.services.data());
        ServicePartSlot& slot = PartFor(zone, index, uses_ads);
        node_class.served.push_back(index);
        node_class.parts.push_back(slot.part);
        node_class.slots.push_back(&slot);
        return slot.part->targets;
      });
  auto by_name = [](const auto& message) { return message.name(); };
  node_class.listeners = InternAll(listeners.listeners, interner_, by_name);
  node_class.routes = InternAll(listeners.routes, interner_, by_name);
  node_class.secrets = InternAll(listeners.secrets, interner_, by_name);
  node_class.built = true;
  Assemble(zone, node_class, uses_ads);
}

void IncrementalTranslator::Assemble(const ZoneState& zone, NodeClass& node_class, bool uses_ads) {
  std::map<std::string, xds::ResourcePtr> clusters;
  std::map<std::string, xds::ResourcePtr> endpoints;
  for (const std::shared_ptr<const ServicePart>& part : node_class.parts) {
    for (const xds::ResourcePtr& cluster : part->clusters) clusters.emplace(cluster->name, cluster);
    for (const xds::ResourcePtr& assignment : part->endpoints) {
      endpoints.emplace(assignment->name, assignment);
    }
  }
  // Sets equal to the previous snapshot's stay the same objects, so streams
  // see at a glance that nothing changed there.
  const xds::NodeSnapshot* previous =
      node_class.snapshot.ok() ? node_class.snapshot->get() : nullptr;
  auto reuse_or_make = [previous](xds::ResourceType type,
                                  std::map<std::string, xds::ResourcePtr> resources) {
    if (previous != nullptr && previous->Of(type).by_name == resources) {
      return previous->SharedOf(type);
    }
    return xds::TypeResources::Make(std::move(resources));
  };
  xds::NodeSnapshot::Types types;
  types[xds::Index(xds::ResourceType::kSecret)] = node_class.secrets;
  types[xds::Index(xds::ResourceType::kCluster)] =
      reuse_or_make(xds::ResourceType::kCluster, std::move(clusters));
  types[xds::Index(xds::ResourceType::kEndpoint)] =
      reuse_or_make(xds::ResourceType::kEndpoint, std::move(endpoints));
  types[xds::Index(xds::ResourceType::kListener)] = node_class.listeners;
  types[xds::Index(xds::ResourceType::kRoute)] = node_class.routes;
  auto snapshot = std::make_shared<const xds::NodeSnapshot>(std::move(types));
  absl::Status consistent = snapshot->CheckConsistent();
  if (consistent.ok()) {
    node_class.snapshot = std::move(snapshot);
  } else {
    // Reported here, once per assembly, not once for each node of the class.
    ++counters_.inconsistent_snapshots;
    spdlog::error(
        "nodes of zone {} ({}, {} services): translated configuration is inconsistent, they keep "
        "their last good one: {}",
        zone.zone, uses_ads ? "ADS" : "per-type xDS", node_class.services.size(),
        std::string(consistent.message()));
    node_class.snapshot = std::move(consistent);
  }
  ++counters_.node_classes_built;
}

const std::vector<bool>& IncrementalTranslator::EndpointsChanged(ZoneView& view) {
  if (view.endpoints_changed_generation == generation_) return view.endpoints_changed;
  view.endpoints_changed_generation = generation_;
  view.endpoints_changed.assign(view.services.size(), false);
  if (changed_endpoint_sets_.empty()) return view.endpoints_changed;
  for (size_t i = 0; i < view.services.size(); ++i) {
    const translate::ResolvedService& service = view.services[i];
    if (!service.HasDefinition()) continue;
    const model::ProPsyServiceSpec& spec = service.Spec();
    const std::string& ns = service.key.namespace_name;
    view.endpoints_changed[i] = changed_endpoint_sets_.contains({ns, spec.service}) ||
                                (!spec.canary_service.empty() &&
                                 changed_endpoint_sets_.contains({ns, spec.canary_service}));
  }
  return view.endpoints_changed;
}

IncrementalTranslator::ServicePartSlot& IncrementalTranslator::PartFor(ZoneState& zone,
                                                                       uint32_t index,
                                                                       bool uses_ads) {
  const translate::ResolvedService& service = zone.view->services[index];
  ServicePartSlot& slot = zone.parts[uses_ads ? 1 : 0][service.key];
  if (slot.part != nullptr && slot.checked_generation == generation_) return slot;

  const model::ProPsyServiceSpec& spec = service.Spec();
  const std::string& ns = service.key.namespace_name;
  if (slot.part != nullptr && slot.checked_generation + 1 == generation_ && !all_changed_ &&
      !changed_endpoint_sets_.contains({ns, spec.service}) &&
      (spec.canary_service.empty() ||
       !changed_endpoint_sets_.contains({ns, spec.canary_service}))) {
    slot.checked_generation = generation_;
    ++counters_.services_reused;
    return slot;
  }
  std::vector<std::shared_ptr<const model::ServiceEndpoints>> endpoint_sets;
  for (const model::ClusterView& cluster : world_->endpoint_clusters) {
    endpoint_sets.push_back(EndpointsOf(*cluster.objects, {ns, spec.service}));
    if (!spec.canary_service.empty()) {
      endpoint_sets.push_back(EndpointsOf(*cluster.objects, {ns, spec.canary_service}));
    }
  }
  const bool unchanged =
      slot.part != nullptr && slot.governing_is_local == service.governing_is_local &&
      slot.endpoint_sets == endpoint_sets && (slot.spec == &spec || *slot.spec == spec);
  slot.checked_generation = generation_;
  slot.config_objects = world_->config_clusters[service.GoverningEntry().config_cluster].objects;
  slot.spec = &spec;
  slot.governing_is_local = service.governing_is_local;
  slot.endpoint_sets = std::move(endpoint_sets);
  if (unchanged) {
    ++counters_.services_reused;
    return slot;
  }

  translate::ServiceClusters clusters = translate::TranslateServiceClusters(
      *world_, zone.zone, service,
      translate::MakeConfigSource(uses_ads, options_.xds_cluster_name));
  auto part = std::make_shared<ServicePart>();
  for (const auto& cluster : clusters.clusters) {
    part->clusters.push_back(interner_.Intern(cluster.name(), cluster));
  }
  for (const auto& assignment : clusters.endpoints) {
    part->endpoints.push_back(interner_.Intern(assignment.cluster_name(), assignment));
  }
  part->targets = std::move(clusters.targets);
  slot.part = std::move(part);
  ++counters_.services_translated;
  return slot;
}

}  // namespace propsy::control
