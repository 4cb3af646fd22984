#include "xds/sotw_stream_state.h"

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

SotwStreamState::SotwStreamState(std::optional<ResourceType> fixed_type) : fixed_type_(fixed_type) {
  auto empty = std::make_shared<const ResourceMap>();
  for (TypeState& state : types_) state.sent = empty;
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
  }
  state.requested = true;
  std::set<std::string> names;
  bool wildcard = request.resource_names().empty() && WildcardByDefault(*type);
  for (const std::string& name : request.resource_names()) {
    if (name == "*") {
      wildcard = true;
    } else {
      names.insert(name);
    }
  }
  if (wildcard != state.wildcard || names != state.names) {
    state.wildcard = wildcard;
    state.names = std::move(names);
    ++state.names_version;
  }
  return event;
}

void SotwStreamState::SetSnapshot(SnapshotPtr snapshot) { snapshot_ = std::move(snapshot); }

SotwStreamState::Plan SotwStreamState::Desired(ResourceType type, bool keep_removed) {
  TypeState& state = types_[Index(type)];
  const std::shared_ptr<const TypeResources>& available = snapshot_->SharedOf(type);
  if (!keep_removed && state.planned_from == available &&
      state.planned_names_version == state.names_version) {
    return state.planned;
  }
  const SharedResourceMap whole(available, &available->by_name);
  Plan plan;
  if (state.wildcard && !keep_removed) {
    plan = Plan{.resources = whole, .version = available->version};
  } else {
    auto resources = std::make_shared<ResourceMap>();
    if (state.wildcard) {
      *resources = available->by_name;
    } else {
      for (const std::string& name : state.names) {
        auto it = available->by_name.find(name);
        if (it != available->by_name.end()) resources->emplace_hint(resources->end(), *it);
      }
    }
    if (keep_removed) {
      for (const auto& [name, resource] : *state.sent) {
        if ((state.wildcard || state.names.contains(name)) && !available->by_name.contains(name)) {
          resources->emplace(name, resource);
        }
      }
    }
    // A subset as large as the whole set is the whole set.
    if (resources->size() == available->by_name.size() && !keep_removed) {
      plan = Plan{.resources = whole, .version = available->version};
    } else {
      plan.version = SetVersion(*resources);
      plan.resources = std::move(resources);
    }
  }
  if (!keep_removed) {
    state.planned_from = available;
    state.planned_names_version = state.names_version;
    state.planned = plan;
  }
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
