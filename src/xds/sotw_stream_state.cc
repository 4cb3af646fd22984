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

SotwStreamState::SotwStreamState(std::optional<ResourceType> fixed_type)
    : fixed_type_(fixed_type) {}

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
  state.names.clear();
  state.wildcard = request.resource_names().empty() && WildcardByDefault(*type);
  for (const std::string& name : request.resource_names()) {
    if (name == "*") {
      state.wildcard = true;
    } else {
      state.names.insert(name);
    }
  }
  return event;
}

void SotwStreamState::SetSnapshot(SnapshotPtr snapshot) { snapshot_ = std::move(snapshot); }

SotwStreamState::Plan SotwStreamState::Desired(ResourceType type, bool keep_removed) const {
  const TypeState& state = types_[Index(type)];
  const TypeResources& available = snapshot_->Of(type);
  Plan plan;
  if (state.wildcard && !keep_removed) {
    plan.resources = available.by_name;
    plan.version = available.version;
    return plan;
  }
  auto subscribed = [&](const std::string& name) {
    return state.wildcard || state.names.contains(name);
  };
  if (state.wildcard) {
    plan.resources = available.by_name;
  } else {
    for (const std::string& name : state.names) {
      auto it = available.by_name.find(name);
      if (it != available.by_name.end()) plan.resources.emplace(name, it->second);
    }
  }
  if (keep_removed) {
    for (const auto& [name, resource] : state.sent) {
      if (subscribed(name) && !available.by_name.contains(name)) {
        plan.resources.emplace(name, resource);
      }
    }
  }
  plan.version = SetVersion(plan.resources);
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
    for (const auto& [name, resource] : plan.resources) {
      if (!complete) {
        auto held = state.sent.find(name);
        if (held != state.sent.end() && held->second->version == resource->version) continue;
      }
      *response.add_resources() = resource->body;
      summary->resources.push_back(resource);
    }
    for (const auto& [name, resource] : state.sent) {
      if (!plan.resources.contains(name)) summary->removed_names.push_back(name);
    }
    state.resend_all = false;
    state.sent_version = plan.version;
    state.sent_nonce = response.nonce();
    state.sent = std::move(plan.resources);
    state.awaiting_ack = true;
    return response;
  }
  return std::nullopt;
}

}  // namespace propsy::xds
