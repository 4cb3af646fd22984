#include "xds/sotw_stream_state.h"

#include <fmt/format.h>

#include <algorithm>

#include "xds/response_order.h"
#include "xds/unserved_sotw_set.h"
#include "xds/warming.h"

namespace propsy::xds {
namespace {

// The protocol requires every listener and cluster in every response; a
// missing one means it was removed.
bool CompleteStateEachResponse(std::optional<ResourceType> type) {
  return type == ResourceType::kListener || type == ResourceType::kCluster;
}

// Whether `resources` (what a response would carry) has a name that must be
// sent again for warming.
bool CarriesRewarm(const std::set<std::string>& rewarm,
                   const std::map<std::string, ResourcePtr>& resources) {
  return std::any_of(rewarm.begin(), rewarm.end(),
                     [&](const std::string& name) { return resources.contains(name); });
}

}  // namespace

SotwStreamState::SotwStreamState(StreamScope scope, NameSetInterner* name_sets)
    : scope_(scope), name_sets_(name_sets) {
  auto empty = std::make_shared<const ResourceMap>();
  auto no_names = std::make_shared<const NameSet>();
  for (ResourceType type : kAllResourceTypes) {
    TypeState& state = types_[Index(type)];
    state.served = type;
    state.sent = empty;
    state.names = no_names;
  }
}

absl::StatusOr<SotwStreamState::TypeState*> SotwStreamState::StateOf(
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
  state.unserved_set = TypeResources::Empty();
  state.sent = std::make_shared<const ResourceMap>();
  state.names = std::make_shared<const NameSet>();
  return &state;
}

SotwStreamState::TypeState& SotwStreamState::AtSendPosition(size_t position) {
  return position < unserved_.size() ? unserved_[position] : types_[position - unserved_.size()];
}

const std::shared_ptr<const TypeResources>& SotwStreamState::Available(
    const TypeState& state) const {
  return state.served.has_value() ? snapshot_->SharedOf(*state.served) : state.unserved_set;
}

absl::StatusOr<RequestEvent> SotwStreamState::OnRequest(const Request& request) {
  absl::StatusOr<RequestedType> type = scope_.Resolve(request.type_url());
  if (!type.ok()) return type.status();
  absl::StatusOr<TypeState*> found = StateOf(*type);
  if (!found.ok()) return found.status();
  TypeState& state = **found;
  RequestEvent event;
  event.type = state.served;
  event.unserved_type_url = state.unserved_url;

  if (state.requested && request.response_nonce() != state.sent_nonce) {
    event.kind = RequestEvent::Kind::kStaleNonce;
    return event;
  }
  if (state.requested && state.awaiting_ack) {
    state.awaiting_ack = false;
    if (request.has_error_detail()) {
      state.nacked_version = state.sent_version;
      state.resend_all = true;
      event.kind = RequestEvent::Kind::kNack;
      event.version = state.sent_version;
      event.error = request.error_detail().message();
    } else {
      event.kind = RequestEvent::Kind::kAck;
      event.version = state.sent_version;
      state.nacked_version.clear();
    }
  }
  if (!state.requested) {
    // A reconnecting client says what it already holds; equal content has an
    // equal hash, so it is not sent again.
    state.sent_version = request.version_info();
    event.claimed_set_version = request.version_info();
  }
  state.requested = true;
  // Most requests are ACKs naming what was named before: check that without
  // building a new set.
  bool wildcard =
      request.resource_names().empty() && state.served && WildcardByDefault(*state.served);
  size_t named = 0;
  bool known = true;
  for (const std::string& name : request.resource_names()) {
    if (name == "*") {
      wildcard = true;
    } else {
      ++named;
      known = known && state.names->contains(name);
    }
  }
  if (wildcard == state.wildcard && known && named == state.names->size()) return event;
  NameSet names;
  for (const std::string& name : request.resource_names()) {
    if (name != "*") names.insert(name);
  }
  if (wildcard != state.wildcard || names != *state.names) {
    state.wildcard = wildcard;
    state.names = name_sets_ != nullptr ? name_sets_->Intern(std::move(names))
                                        : std::make_shared<const NameSet>(std::move(names));
    ++state.names_version;
    if (!state.served) state.unserved_set = UnservedSotwSet(state.unserved_url, *state.names);
  }
  return event;
}

void SotwStreamState::SetSnapshot(SnapshotPtr snapshot) { snapshot_ = std::move(snapshot); }

SotwStreamState::Plan SotwStreamState::Desired(TypeState& state, bool keep_removed) {
  const std::shared_ptr<const TypeResources>& available = Available(state);
  if (state.planned_from != available || state.planned_names_version != state.names_version) {
    state.planned = PlanFor(state, available);
    state.planned_from = available;
    state.planned_names_version = state.names_version;
  }
  if (!keep_removed) return state.planned;

  // Removals wait: add back what the client holds and the snapshot lost.
  // Usually nothing was lost, and the plan stands as it is.
  std::vector<const ResourceMap::value_type*> lost;
  if (state.sent != state.planned.resources) {
    ForEachGone(*state.sent, available->by_name, [&](const ResourceMap::value_type& held) {
      if (state.wildcard || state.names->contains(held.first)) lost.push_back(&held);
    });
  }
  if (lost.empty()) return state.planned;
  auto resources = std::make_shared<ResourceMap>(*state.planned.resources);
  for (const ResourceMap::value_type* held : lost) resources->insert(*held);
  Plan plan;
  plan.version = SetVersion(*resources);
  plan.resources = std::move(resources);
  return plan;
}

SotwStreamState::Plan SotwStreamState::PlanFor(
    const TypeState& state, const std::shared_ptr<const TypeResources>& available) {
  const ResourceMap& all = available->by_name;
  const SharedResourceMap whole(available, &all);
  // Most clients ask for the whole set (wildcard, or every name it has):
  // share the snapshot's map and version. Both name lists are sorted, so
  // one pass tells.
  bool every_name = state.wildcard;
  const NameSet& names = *state.names;
  if (!every_name && names.size() >= all.size()) {
    auto name = names.begin();
    every_name = std::all_of(all.begin(), all.end(), [&](const auto& entry) {
      while (name != names.end() && *name < entry.first) ++name;
      return name != names.end() && *name == entry.first;
    });
  }
  if (every_name) return Plan{.resources = whole, .version = available->version};
  auto resources = std::make_shared<ResourceMap>();
  for (const std::string& name : names) {
    auto it = all.find(name);
    if (it != all.end()) resources->emplace_hint(resources->end(), *it);
  }
  Plan plan;
  plan.version = SetVersion(*resources);
  plan.resources = std::move(resources);
  return plan;
}

std::optional<SotwStreamState::Response> SotwStreamState::NextResponse(SentSummary* summary) {
  if (!snapshot_) return std::nullopt;
  auto next = PickNextResponse(
      TypeCount(), scope_.aggregated(),
      [this](size_t position) -> TypeState& { return AtSendPosition(position); },
      [this](TypeState& state, bool hold_removals) -> std::optional<Plan> {
        Plan plan = Desired(state, /*keep_removed=*/hold_removals);
        if (plan.version == state.nacked_version) return std::nullopt;
        if (plan.version == state.sent_version &&
            (state.rewarm.empty() || !CarriesRewarm(state.rewarm, *plan.resources))) {
          return std::nullopt;
        }
        return plan;
      });
  if (!next.has_value()) return std::nullopt;
  auto& [state, plan] = *next;
  Response response;
  response.set_type_url(state->served ? std::string(TypeUrl(*state->served)) : state->unserved_url);
  response.set_version_info(plan.version);
  response.set_nonce(std::to_string(++nonce_counter_));
  summary->type = state->served;
  summary->unserved_type_url = state->unserved_url;
  summary->version = plan.version;
  summary->nonce = response.nonce();
  summary->resources.clear();
  summary->removed_names.clear();
  const bool complete = CompleteStateEachResponse(state->served) || state->resend_all;
  // Clusters this response adds or changes warm in the client until their
  // load assignments arrive (only an ADS stream carries those). A client that
  // holds no assignment yet gets each one when it first asks for it.
  TypeState& assignments = types_[Index(ResourceType::kEndpoint)];
  std::set<std::string>* rewarm_assignments =
      scope_.aggregated() && state->served == ResourceType::kCluster && assignments.requested &&
              !assignments.sent->empty()
          ? &assignments.rewarm
          : nullptr;
  // A complete set is sized at once: thousands of first responses wait for
  // their turn in the write budget holding these lists.
  if (complete || state->sent->empty()) summary->resources.reserve(plan.resources->size());
  // Both maps are sorted by name: one pass finds what changed and what left.
  auto held = state->sent->begin();
  for (const auto& [name, resource] : *plan.resources) {
    for (; held != state->sent->end() && held->first < name; ++held) {
      summary->removed_names.push_back(held->first);
    }
    const bool unchanged = held != state->sent->end() && held->first == name &&
                           held->second->version == resource->version;
    if (held != state->sent->end() && held->first == name) ++held;
    if (!unchanged && rewarm_assignments != nullptr) {
      if (std::optional<std::string> assignment = LoadAssignmentNameOf(*resource)) {
        rewarm_assignments->insert(*std::move(assignment));
      }
    }
    if (unchanged && !complete && !state->rewarm.contains(name)) continue;
    summary->resources.push_back(resource);
  }
  for (; held != state->sent->end(); ++held) summary->removed_names.push_back(held->first);
  // Rewarm names not carried are not subscribed (yet): a new subscription
  // is sent anyway.
  state->rewarm.clear();
  state->resend_all = false;
  state->sent_version = plan.version;
  state->sent_nonce = response.nonce();
  state->sent = std::move(plan.resources);
  state->awaiting_ack = true;
  return response;
}

void SotwStreamState::AttachBodies(Response& response, const std::vector<ResourcePtr>& resources) {
  for (const ResourcePtr& resource : resources) *response.add_resources() = resource->body;
}

void SotwStreamState::LendBodies(Response& response, const std::vector<ResourcePtr>& resources) {
  auto& bodies = *response.mutable_resources();
  bodies.Reserve(static_cast<int>(resources.size()));
  // Serialization only reads a body (its cached size is a relaxed atomic),
  // so any number of writes may share one.
  for (const ResourcePtr& resource : resources) {
    bodies.UnsafeArenaAddAllocated(const_cast<google::protobuf::Any*>(&resource->body));
  }
}

void SotwStreamState::ReturnBodies(Response& response) {
  auto& bodies = *response.mutable_resources();
  while (!bodies.empty()) bodies.UnsafeArenaReleaseLast();
}

}  // namespace propsy::xds
