#include "xds/delta_stream_state.h"

#include <fmt/format.h>

#include "xds/response_order.h"
#include "xds/warming.h"

namespace propsy::xds {

DeltaStreamState::DeltaStreamState(StreamScope scope, NameSetInterner* name_sets)
    : scope_(scope), name_sets_(name_sets) {
  auto no_names = std::make_shared<const NameSet>();
  for (ResourceType type : kAllResourceTypes) {
    types_[Index(type)].served = type;
    types_[Index(type)].names = no_names;
  }
}

absl::StatusOr<DeltaStreamState::TypeState*> DeltaStreamState::StateOf(
    const RequestedType& requested) {
  if (requested.served.has_value()) return &types_[Index(*requested.served)];
  for (TypeState& state : unserved_) {
    if (state.unserved_url == requested.url) return &state;
  }
  if (unserved_.size() >= kMaxUnservedTypes) {
    return absl::ResourceExhaustedError(
        fmt::format("type_url \"{}\" would be the {}th type on this stream that ProPsy does not "
                    "serve (at most {})",
                    requested.url, kMaxUnservedTypes + 1, kMaxUnservedTypes));
  }
  TypeState& state = unserved_.emplace_back();
  state.unserved_url = std::string(requested.url);
  state.names = std::make_shared<const NameSet>();
  return &state;
}

DeltaStreamState::TypeState& DeltaStreamState::AtSendPosition(size_t position) {
  return position < unserved_.size() ? unserved_[position] : types_[position - unserved_.size()];
}

const std::shared_ptr<const TypeResources>& DeltaStreamState::Available(
    const TypeState& state) const {
  return state.served.has_value() ? snapshot_->SharedOf(*state.served) : TypeResources::Empty();
}

absl::StatusOr<RequestEvent> DeltaStreamState::OnRequest(const Request& request) {
  absl::StatusOr<RequestedType> type = scope_.Resolve(request.type_url());
  if (!type.ok()) return type.status();
  absl::StatusOr<TypeState*> found = StateOf(*type);
  if (!found.ok()) return found.status();
  TypeState& state = **found;
  RequestEvent event;
  event.type = state.served;
  event.unserved_type_url = state.unserved_url;

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
    state.wildcard = request.resource_names_subscribe().empty() && state.served &&
                     WildcardByDefault(*state.served);
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
      continue;
    }
    if (!current().contains(name)) edit().insert(name);
    // Answered even if held: the client may have dropped it and regained
    // interest before its unsubscribe went out. The first request's
    // initial_resource_versions are what it holds right now.
    if (!first) state.answer_anyway.insert(name);
  }
  for (const std::string& name : request.resource_names_unsubscribe()) {
    if (name == "*") {
      state.wildcard = false;
      // The client drops what it held only through the wildcard.
      const NameSet& subscribed = current();
      state.held.EraseIf(
          [&subscribed](const Resource& held) { return !subscribed.contains(held.name); });
      std::erase_if(state.answer_anyway,
                    [&subscribed](const std::string& held) { return !subscribed.contains(held); });
      continue;
    }
    if (current().contains(name)) edit().erase(name);
    state.told_absent.erase(name);
    if (state.wildcard) {
      // Still of interest through `*`, but the client may drop it with the
      // explicit subscription: it must be sent again (or listed removed).
      state.answer_anyway.insert(name);
    } else {
      state.held.Erase(name);
      state.answer_anyway.erase(name);
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

DeltaStreamState::Plan DeltaStreamState::Compute(const TypeState& state,
                                                 const TypeResources& available,
                                                 bool hold_removals) {
  const auto& present = available.by_name;
  Plan plan;
  auto consider = [&](const std::string& name, const ResourcePtr& resource) {
    if (!state.answer_anyway.contains(name)) {
      const Resource* held = state.held.Find(name);
      if (held != nullptr && (held == resource.get() || held->version == resource->version)) {
        return;
      }
      auto rejected = state.nacked.find(name);
      if (rejected != state.nacked.end() && rejected->second == resource->version) return;
    }
    plan.updates.push_back(resource);
  };
  if (state.wildcard) {
    for (const auto& [name, resource] : present) consider(name, resource);
  }
  for (const std::string& name : *state.names) {
    auto it = present.find(name);
    if (it != present.end()) {
      if (!state.wildcard) consider(name, it->second);
    } else if (!state.held.Contains(name) && !state.told_absent.contains(name) &&
               !state.answer_anyway.contains(name)) {
      plan.absent.push_back(name);
    }
  }
  // Names to answer anyway that do not exist: listed as absent again. (One
  // the client holds is a removal, below, or waits for later types.)
  for (const std::string& name : state.answer_anyway) {
    if (!present.contains(name) && !state.held.Contains(name)) plan.absent.push_back(name);
  }
  if (!hold_removals) {
    ForEachGone(state.held, present,
                [&](const ResourcePtr& held) { plan.removals.push_back(held->name); });
  }
  return plan;
}

std::optional<DeltaStreamState::Plan> DeltaStreamState::PlanFor(TypeState& state,
                                                                bool hold_removals) {
  const std::shared_ptr<const TypeResources>& available = Available(state);
  // A state found to have nothing to send is not compared again until its
  // set or the client's state changes (most streams, most of the time).
  const size_t memo = hold_removals ? 1 : 0;
  Plan plan;
  if (state.quiet_from[memo] != available || state.quiet_epoch[memo] != state.epoch) {
    plan = Compute(state, *available, hold_removals);
    if (plan.empty()) {
      state.quiet_from[memo] = available;
      state.quiet_epoch[memo] = state.epoch;
    }
  }
  if (plan.empty() && !state.must_answer) return std::nullopt;
  return plan;
}

std::optional<DeltaStreamState::Response> DeltaStreamState::NextResponse(SentSummary* summary) {
  if (!snapshot_) return std::nullopt;
  auto next = PickNextResponse(
      TypeCount(), scope_.aggregated(),
      [this](size_t position) -> TypeState& { return AtSendPosition(position); },
      [this](TypeState& state, bool hold_removals) { return PlanFor(state, hold_removals); });
  if (!next.has_value()) return std::nullopt;
  auto& [state, plan] = *next;
  Response response;
  response.set_type_url(state->served ? std::string(TypeUrl(*state->served)) : state->unserved_url);
  response.set_system_version_info(Available(*state)->version);
  response.set_nonce(std::to_string(++nonce_counter_));
  summary->type = state->served;
  summary->unserved_type_url = state->unserved_url;
  summary->version = response.system_version_info();
  summary->nonce = response.nonce();
  summary->resources.clear();
  // Sized at once: thousands of first responses wait for their write turn
  // holding these lists.
  summary->resources.reserve(plan.updates.size());
  summary->removed_names.clear();
  state->before_in_flight.clear();
  state->before_in_flight.reserve(plan.updates.size());
  state->held.Reserve(state->held.size() + plan.updates.size());
  // Clusters this response adds or changes warm in the client until their
  // load assignments arrive (only an ADS stream carries those); one the
  // client already holds is not asked for again, so it is sent anyway.
  TypeState* assignments = &types_[Index(ResourceType::kEndpoint)];
  if (!scope_.aggregated() || state->served != ResourceType::kCluster ||
      assignments->held.size() == 0) {
    assignments = nullptr;
  }
  // The entries themselves are added with the bodies (LendBodies).
  for (const ResourcePtr& resource : plan.updates) {
    if (assignments != nullptr) {
      std::optional<std::string> assignment = LoadAssignmentNameOf(*resource);
      if (assignment && assignments->held.Contains(*assignment)) {
        assignments->answer_anyway.insert(*std::move(assignment));
        ++assignments->epoch;
      }
    }
    state->before_in_flight.emplace_back(resource, state->held.Put(resource));
    state->told_absent.erase(resource->name);
    state->answer_anyway.erase(resource->name);
    summary->resources.push_back(resource);
  }
  for (const std::string& name : plan.removals) {
    response.add_removed_resources(name);
    state->held.Erase(name);
    if (state->names->contains(name)) state->told_absent.insert(name);
    state->answer_anyway.erase(name);
    summary->removed_names.push_back(name);
  }
  for (const std::string& name : plan.absent) {
    response.add_removed_resources(name);
    if (state->names->contains(name)) state->told_absent.insert(name);
    state->answer_anyway.erase(name);
    summary->removed_names.push_back(name);
  }
  state->sent_nonce = response.nonce();
  state->sent_version = response.system_version_info();
  state->awaiting_ack = true;
  state->must_answer = false;
  ++state->epoch;
  return response;
}

void DeltaStreamState::AttachBodies(Response& response, const std::vector<ResourcePtr>& resources) {
  for (const ResourcePtr& resource : resources) {
    auto* entry = response.add_resources();
    entry->set_name(resource->name);
    entry->set_version(resource->version);
    *entry->mutable_resource() = resource->body;
  }
}

void DeltaStreamState::LendBodies(Response& response, const std::vector<ResourcePtr>& resources) {
  response.mutable_resources()->Reserve(static_cast<int>(resources.size()));
  for (const ResourcePtr& resource : resources) {
    auto* entry = response.add_resources();
    entry->set_name(resource->name);
    entry->set_version(resource->version);
    // Serialization only reads a body (its cached size is a relaxed
    // atomic), so any number of writes may share one.
    entry->unsafe_arena_set_allocated_resource(const_cast<google::protobuf::Any*>(&resource->body));
  }
}

void DeltaStreamState::ReturnBodies(Response& response) {
  for (auto& entry : *response.mutable_resources()) (void)entry.unsafe_arena_release_resource();
}

}  // namespace propsy::xds
