#include "xds/delta_stream_state.h"

namespace propsy::xds {

DeltaStreamState::DeltaStreamState(std::optional<ResourceType> fixed_type,
                                   NameSetInterner* name_sets)
    : fixed_type_(fixed_type), name_sets_(name_sets) {
  auto no_names = std::make_shared<const NameSet>();
  for (TypeState& state : types_) state.names = no_names;
}

absl::StatusOr<RequestEvent> DeltaStreamState::OnRequest(const Request& request) {
  absl::StatusOr<ResourceType> type = ResolveRequestType(fixed_type_, request.type_url());
  if (!type.ok()) return type.status();
  TypeState& state = types_[Index(*type)];
  RequestEvent event;
  event.type = *type;

  const bool first = !state.requested;
  if (first) {
    state.requested = true;
    // What a reconnecting client says it holds: known by version only.
    for (const auto& [name, version] : request.initial_resource_versions()) {
      auto claimed =
          std::make_shared<const Resource>(Resource{.name = name, .version = version, .body = {}});
      event.claimed_resources.push_back(claimed);
      state.held.Put(std::move(claimed));
    }
    // Legacy wildcard: a first request naming nothing, for listeners/clusters.
    state.wildcard = request.resource_names_subscribe().empty() && WildcardByDefault(*type);
  } else if (!request.response_nonce().empty()) {
    if (state.awaiting_ack && request.response_nonce() == state.sent_nonce) {
      state.awaiting_ack = false;
      event.version = state.sent_version;
      if (request.has_error_detail()) {
        event.kind = RequestEvent::Kind::kNack;
        event.error = request.error_detail().message();
        for (auto& [sent, before] : state.before_in_flight) {
          const std::string& name = sent->name;
          const Resource* rejected = state.held.Find(name);
          if (rejected == nullptr) continue;  // a removal: nothing to undo
          state.nacked[name] = rejected->version;
          if (before != nullptr) {
            state.held.Put(std::move(before));
          } else {
            state.held.Erase(name);
          }
        }
      } else {
        event.kind = RequestEvent::Kind::kAck;
        for (const auto& [sent, before] : state.before_in_flight) state.nacked.erase(sent->name);
      }
      state.before_in_flight = {};  // freed, not kept for reuse: most streams go quiet
    } else if (request.response_nonce() != state.sent_nonce) {
      event.kind = RequestEvent::Kind::kStaleNonce;
    }  // else: the answered nonce again, carrying a subscription change
  }

  // Subscriptions change rarely: the shared set is copied only when they do.
  std::optional<NameSet> names;
  auto current = [&]() -> const NameSet& { return names ? *names : *state.names; };
  auto edit = [&]() -> NameSet& {
    if (!names) names = *state.names;
    return *names;
  };
  for (const std::string& name : request.resource_names_subscribe()) {
    if (name == "*") {
      state.wildcard = true;
    } else if (!current().contains(name)) {
      edit().insert(name);
    }
  }
  for (const std::string& name : request.resource_names_unsubscribe()) {
    if (name == "*") {
      state.wildcard = false;
      // The client drops what it held only through the wildcard.
      const NameSet& subscribed = current();
      state.held.EraseIf(
          [&subscribed](const Resource& held) { return !subscribed.contains(held.name); });
    } else {
      if (current().contains(name)) edit().erase(name);
      state.told_absent.erase(name);
      if (!state.wildcard) state.held.Erase(name);
    }
  }
  if (names) {
    state.names = name_sets_ != nullptr ? name_sets_->Intern(*std::move(names))
                                        : std::make_shared<const NameSet>(*std::move(names));
  }
  if (first) state.must_answer = state.wildcard;
  ++state.epoch;
  return event;
}

void DeltaStreamState::SetSnapshot(SnapshotPtr snapshot) { snapshot_ = std::move(snapshot); }

DeltaStreamState::Plan DeltaStreamState::Compute(ResourceType type, bool hold_removals) const {
  const TypeState& state = types_[Index(type)];
  const auto& available = snapshot_->Of(type).by_name;
  Plan plan;
  auto consider = [&](const std::string& name, const ResourcePtr& resource) {
    const Resource* held = state.held.Find(name);
    if (held != nullptr && (held == resource.get() || held->version == resource->version)) return;
    auto rejected = state.nacked.find(name);
    if (rejected != state.nacked.end() && rejected->second == resource->version) return;
    plan.updates.push_back(resource);
  };
  if (state.wildcard) {
    for (const auto& [name, resource] : available) consider(name, resource);
  }
  for (const std::string& name : *state.names) {
    auto it = available.find(name);
    if (it != available.end()) {
      if (!state.wildcard) consider(name, it->second);
    } else if (!state.held.Contains(name) && !state.told_absent.contains(name)) {
      plan.absent.push_back(name);
    }
  }
  if (!hold_removals) {
    // Both sorted by name: one pass.
    auto present = available.begin();
    for (const ResourcePtr& held : state.held) {
      while (present != available.end() && present->first < held->name) ++present;
      if (present == available.end() || present->first != held->name) {
        plan.removals.push_back(held->name);
      }
    }
  }
  return plan;
}

std::optional<DeltaStreamState::Response> DeltaStreamState::NextResponse(SentSummary* summary) {
  if (!snapshot_) return std::nullopt;
  std::array<std::optional<Plan>, kResourceTypeCount> due;
  bool later_busy = false;
  for (auto it = kAllResourceTypes.rbegin(); it != kAllResourceTypes.rend(); ++it) {
    TypeState& state = types_[Index(*it)];
    if (!state.requested) continue;
    const bool hold_removals = !fixed_type_.has_value() && later_busy;
    const std::shared_ptr<const TypeResources>& available = snapshot_->SharedOf(*it);
    const size_t memo = hold_removals ? 1 : 0;
    Plan plan;
    if (state.quiet_from[memo] != available || state.quiet_epoch[memo] != state.epoch) {
      plan = Compute(*it, hold_removals);
      if (plan.empty()) {
        state.quiet_from[memo] = available;
        state.quiet_epoch[memo] = state.epoch;
      }
    }
    const bool answer = !plan.empty() || state.must_answer;
    later_busy = later_busy || state.awaiting_ack || answer;
    if (answer && !state.awaiting_ack) due[Index(*it)] = std::move(plan);
  }
  for (ResourceType type : kAllResourceTypes) {
    if (!due[Index(type)].has_value()) continue;
    Plan& plan = *due[Index(type)];
    TypeState& state = types_[Index(type)];
    Response response;
    response.set_type_url(std::string(TypeUrl(type)));
    response.set_system_version_info(snapshot_->Of(type).version);
    response.set_nonce(std::to_string(++nonce_counter_));
    summary->type = type;
    summary->version = response.system_version_info();
    summary->nonce = response.nonce();
    summary->resources.clear();
    summary->removed_names.clear();
    state.before_in_flight.clear();
    state.before_in_flight.reserve(plan.updates.size());
    state.held.Reserve(state.held.size() + plan.updates.size());
    // The entries themselves are added with the bodies (AttachBodies).
    for (const ResourcePtr& resource : plan.updates) {
      state.before_in_flight.emplace_back(resource, state.held.Put(resource));
      state.told_absent.erase(resource->name);
      summary->resources.push_back(resource);
    }
    for (const std::string& name : plan.removals) {
      response.add_removed_resources(name);
      state.held.Erase(name);
      if (state.names->contains(name)) state.told_absent.insert(name);
      summary->removed_names.push_back(name);
    }
    for (const std::string& name : plan.absent) {
      response.add_removed_resources(name);
      state.told_absent.insert(name);
      summary->removed_names.push_back(name);
    }
    state.sent_nonce = response.nonce();
    state.sent_version = response.system_version_info();
    state.awaiting_ack = true;
    state.must_answer = false;
    ++state.epoch;
    return response;
  }
  return std::nullopt;
}

void DeltaStreamState::AttachBodies(Response& response, const std::vector<ResourcePtr>& resources) {
  for (const ResourcePtr& resource : resources) {
    auto* entry = response.add_resources();
    entry->set_name(resource->name);
    entry->set_version(resource->version);
    *entry->mutable_resource() = resource->body;
  }
}

}  // namespace propsy::xds
