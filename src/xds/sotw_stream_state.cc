#include "xds/sotw_stream_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/content_hash.h"

namespace propsy::xds {
namespace {

std::string SetVersion(const std::map<std::string, ResourcePtr>& resources) {
  ContentHasher hasher;
  for (const auto& [name, resource] : resources) {
    hasher.Add(name);
    hasher.Add(resource->version);
  }
  return hasher.Finish();
}

// The protocol requires every listener and cluster in every response; a
// missing one means it was removed.
bool CompleteStateEachResponse(ResourceType type) {
  return type == ResourceType::kListener || type == ResourceType::kCluster;
}

}  // namespace

SotwStreamState::SotwStreamState(std::optional<ResourceType> fixed_type, NameSetInterner* name_sets)
    : fixed_type_(fixed_type), name_sets_(name_sets) {
  auto empty = std::make_shared<const ResourceMap>();
  auto no_names = std::make_shared<const NameSet>();
  for (TypeState& state : types_) {
    state.sent = empty;
    state.names = no_names;
  }
}

absl::StatusOr<RequestEvent> SotwStreamState::OnRequest(const Request& request) {
  absl::StatusOr<ResourceType> type = ResolveRequestType(fixed_type_, request.type_url());
  if (!type.ok()) return type.status();
  TypeState& state = types_[Index(*type)];
  RequestEvent event;
  event.type = *type;

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
  bool wildcard = request.resource_names().empty() && WildcardByDefault(*type);
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
  }
  return event;
}

void SotwStreamState::SetSnapshot(SnapshotPtr snapshot) { snapshot_ = std::move(snapshot); }

SotwStreamState::Plan SotwStreamState::Desired(ResourceType type, bool keep_removed) {
  TypeState& state = types_[Index(type)];
  const std::shared_ptr<const TypeResources>& available = snapshot_->SharedOf(type);
  if (state.planned_from != available || state.planned_names_version != state.names_version) {
    state.planned = PlanFor(state, available);
    state.planned_from = available;
    state.planned_names_version = state.names_version;
  }
  if (!keep_removed) return state.planned;

  // Removals wait: add back what the client holds and the snapshot lost.
  // Usually nothing was lost, and the plan stands as it is.
  // Both maps are sorted: one pass finds what the snapshot lost.
  std::vector<const ResourceMap::value_type*> lost;
  if (state.sent != state.planned.resources) {
    auto present = available->by_name.begin();
    for (const auto& held : *state.sent) {
      while (present != available->by_name.end() && present->first < held.first) ++present;
      if (present != available->by_name.end() && present->first == held.first) continue;
      if (state.wildcard || state.names->contains(held.first)) lost.push_back(&held);
    }
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
  // Walk types last to first: a type keeps its removed resources while any
  // later type still has something to send or to hear back about.
  std::array<std::optional<Plan>, kResourceTypeCount> due;
  bool later_busy = false;
  for (auto it = kAllResourceTypes.rbegin(); it != kAllResourceTypes.rend(); ++it) {
    const TypeState& state = types_[Index(*it)];
    if (!state.requested) continue;
    Plan plan = Desired(*it, /*keep_removed=*/!fixed_type_.has_value() && later_busy);
    bool changed = plan.version != state.sent_version && plan.version != state.nacked_version;
    later_busy = later_busy || state.awaiting_ack || changed;
    if (changed && !state.awaiting_ack) due[Index(*it)] = std::move(plan);
  }
  for (ResourceType type : kAllResourceTypes) {
    if (!due[Index(type)].has_value()) continue;
    Plan& plan = *due[Index(type)];
    TypeState& state = types_[Index(type)];
    Response response;
    response.set_type_url(std::string(TypeUrl(type)));
    response.set_version_info(plan.version);
    response.set_nonce(std::to_string(++nonce_counter_));
    summary->type = type;
    summary->version = plan.version;
    summary->nonce = response.nonce();
    summary->resources.clear();
    summary->removed_names.clear();
    const bool complete = CompleteStateEachResponse(type) || state.resend_all;
    // Both maps are sorted by name: one pass finds what changed and what left.
    auto held = state.sent->begin();
    for (const auto& [name, resource] : *plan.resources) {
      for (; held != state.sent->end() && held->first < name; ++held) {
        summary->removed_names.push_back(held->first);
      }
      const bool unchanged = held != state.sent->end() && held->first == name &&
                             held->second->version == resource->version;
      if (held != state.sent->end() && held->first == name) ++held;
      if (unchanged && !complete) continue;
      summary->resources.push_back(resource);
    }
    for (; held != state.sent->end(); ++held) summary->removed_names.push_back(held->first);
    state.resend_all = false;
    state.sent_version = plan.version;
    state.sent_nonce = response.nonce();
    state.sent = std::move(plan.resources);
    state.awaiting_ack = true;
    return response;
  }
  return std::nullopt;
}

void SotwStreamState::AttachBodies(Response& response, const std::vector<ResourcePtr>& resources) {
  for (const ResourcePtr& resource : resources) *response.add_resources() = resource->body;
}

}  // namespace propsy::xds
