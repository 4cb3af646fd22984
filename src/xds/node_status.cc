#include "xds/node_status.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "envoy/admin/v3/config_dump_shared.pb.h"

namespace propsy::xds {
namespace {

using envoy::admin::v3::ClientResourceStatus;
using envoy::service::status::v3::ClientConfig;
using envoy::service::status::v3::ClientStatusRequest;
using envoy::service::status::v3::ClientStatusResponse;
using envoy::service::status::v3::ConfigStatus;

bool Matches(const ClientStatusRequest& request, const std::string& node_id) {
  if (request.node_matchers().empty()) {
    return !request.has_node() || request.node().id().empty() || request.node().id() == node_id;
  }
  for (const auto& matcher : request.node_matchers()) {
    const auto& id = matcher.node_id();
    switch (id.match_pattern_case()) {
      case envoy::type::matcher::v3::StringMatcher::kExact:
        if (id.exact() == node_id) return true;
        break;
      case envoy::type::matcher::v3::StringMatcher::kPrefix:
        if (node_id.starts_with(id.prefix())) return true;
        break;
      case envoy::type::matcher::v3::StringMatcher::kSuffix:
        if (node_id.ends_with(id.suffix())) return true;
        break;
      case envoy::type::matcher::v3::StringMatcher::kContains:
        if (node_id.find(id.contains()) != std::string::npos) return true;
        break;
      default:
        // No node_id constraint (or one we do not evaluate): matches all.
        if (!matcher.has_node_id()) return true;
        break;
    }
  }
  return false;
}

}  // namespace

NodeStatusRegistry::StreamId NodeStatusRegistry::OpenStream(
    const envoy::config::core::v3::Node& node, std::string_view kind) {
  absl::MutexLock lock(&mu_);
  StreamId id = next_id_++;
  StreamStatus& stream = streams_[id];
  stream.node = node;
  // Envoy lists every extension it was built with (tens of KB per node):
  // not worth keeping for each stream.
  stream.node.clear_extensions();
  stream.node.clear_client_features();
  stream.kind = std::string(kind);
  ++answers_version_;
  return id;
}

void NodeStatusRegistry::CloseStream(StreamId stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
  ++answers_version_;
}

void NodeStatusRegistry::OnSent(StreamId stream, const SentSummary& sent) {
  if (!sent.type.has_value()) return;  // an empty answer to a type ProPsy does not serve
  absl::MutexLock lock(&mu_);
  ++answers_version_;
  ++totals_.responses;
  totals_.resources += sent.resources.size();
  ++totals_.by_type[Index(*sent.type)].responses;
  totals_.by_type[Index(*sent.type)].resources += sent.resources.size();
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  TypeStatus& type = it->second.types[Index(*sent.type)];
  type.sent_any = true;
  auto by_name = [](const HeldResource& held, std::string_view name) {
    return held.resource->name < name;
  };
  auto release = [&type](uint64_t batch_id) {
    auto batch = type.batches.find(batch_id);
    if (batch != type.batches.end() && --batch->second.uses == 0) type.batches.erase(batch);
  };
  for (const std::string& name : sent.removed_names) {
    auto held = std::lower_bound(type.held.begin(), type.held.end(), name, by_name);
    if (held == type.held.end() || held->resource->name != name) continue;
    release(held->batch);
    type.held.erase(held);
  }
  // Reserve exactly: a stream's first response fills the vector at once.
  type.held.reserve(type.held.size() + sent.resources.size());
  const uint64_t batch_id = type.next_batch++;
  Batch& batch = type.batches[batch_id];
  batch.updated = clock_.WallNow();
  for (const ResourcePtr& resource : sent.resources) {
    auto held = std::lower_bound(type.held.begin(), type.held.end(), resource->name, by_name);
    if (held != type.held.end() && held->resource->name == resource->name) {
      release(held->batch);
      *held = HeldResource{.resource = resource, .batch = batch_id};
    } else {
      type.held.insert(held, HeldResource{.resource = resource, .batch = batch_id});
    }
    ++batch.uses;
  }
  if (batch.uses == 0) type.batches.erase(batch_id);
  type.in_flight = batch_id;
  type.sent_version = sent.version;
}

void NodeStatusRegistry::OnRequest(StreamId stream, const RequestEvent& event) {
  if (!event.type.has_value()) {
    std::string node_id;
    {
      absl::MutexLock lock(&mu_);
      auto it = streams_.find(stream);
      if (it != streams_.end()) node_id = it->second.node.id();
    }
    unserved_.OnRequest(node_id, event.unserved_type_url);
    return;
  }
  if (event.kind == RequestEvent::Kind::kRequest) {
    absl::MutexLock lock(&mu_);
    auto it = streams_.find(stream);
    if (it == streams_.end() || it->second.requested[Index(*event.type)]) return;
    // The type's first request: what a reconnecting client holds already.
    it->second.requested[Index(*event.type)] = true;
    TypeStatus& type = it->second.types[Index(*event.type)];
    type.claimed_set_version = event.claimed_set_version;
    if (!event.claimed_resources.empty()) {
      const uint64_t batch_id = type.next_batch++;
      Batch& batch = type.batches[batch_id];
      batch.state = State::kAcked;
      batch.updated = clock_.WallNow();
      for (const ResourcePtr& resource : event.claimed_resources) {
        type.held.push_back(HeldResource{.resource = resource, .batch = batch_id});
        ++batch.uses;
      }
      std::sort(type.held.begin(), type.held.end(),
                [](const HeldResource& a, const HeldResource& b) {
                  return a.resource->name < b.resource->name;
                });
    }
    ++answers_version_;
    return;
  }
  if (event.kind != RequestEvent::Kind::kAck && event.kind != RequestEvent::Kind::kNack) return;
  absl::MutexLock lock(&mu_);
  ++answers_version_;
  bool ack = event.kind == RequestEvent::Kind::kAck;
  ++(ack ? totals_.acks : totals_.nacks);
  TypeTotals& type_totals = totals_.by_type[Index(*event.type)];
  ++(ack ? type_totals.acks : type_totals.nacks);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  TypeStatus& type = it->second.types[Index(*event.type)];
  const WallTime now = clock_.WallNow();
  if (type.in_flight.has_value()) {
    auto batch = type.batches.find(*type.in_flight);
    if (batch != type.batches.end()) {
      batch->second.state = ack ? State::kAcked : State::kNacked;
      batch->second.error = ack ? "" : event.error;
      batch->second.updated = now;
    }
  }
  type.in_flight.reset();
  if (!ack) type.last_nack = LastNack{event.version, event.error, now};
}

void NodeStatusRegistry::OnIdentityRejected() {
  absl::MutexLock lock(&mu_);
  ++totals_.identity_rejections;
}

ClientStatusResponse NodeStatusRegistry::ClientStatus(const ClientStatusRequest& request) const {
  absl::MutexLock lock(&mu_);
  // Several streams of one node (per-type services) make one ClientConfig.
  std::map<std::string, ClientConfig> by_node;
  for (const auto& [id, stream] : streams_) {
    if (!Matches(request, stream.node.id())) continue;
    ClientConfig& config = by_node[stream.node.id()];
    *config.mutable_node() = stream.node;
    for (ResourceType type : kAllResourceTypes) {
      const TypeStatus& type_status = stream.types[Index(type)];
      for (const HeldResource& held : type_status.held) {
        const Batch& status = type_status.batches.at(held.batch);
        auto* entry = config.add_generic_xds_configs();
        entry->set_type_url(std::string(TypeUrl(type)));
        entry->set_name(held.resource->name);
        entry->set_version_info(held.resource->version);
        *entry->mutable_xds_config() = held.resource->body;
        *entry->mutable_last_updated() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
            std::chrono::duration_cast<std::chrono::nanoseconds>(status.updated.time_since_epoch())
                .count());
        switch (status.state) {
          case State::kSent:
            entry->set_config_status(ConfigStatus::STALE);
            entry->set_client_status(ClientResourceStatus::REQUESTED);
            break;
          case State::kAcked:
            entry->set_config_status(ConfigStatus::SYNCED);
            entry->set_client_status(ClientResourceStatus::ACKED);
            break;
          case State::kNacked:
            entry->set_config_status(ConfigStatus::ERROR);
            entry->set_client_status(ClientResourceStatus::NACKED);
            entry->mutable_error_state()->set_details(status.error);
            entry->mutable_error_state()->set_version_info(held.resource->version);
            break;
        }
      }
    }
  }
  ClientStatusResponse response;
  for (auto& [node_id, config] : by_node) *response.add_config() = std::move(config);
  return response;
}

NodeStatusRegistry::Totals NodeStatusRegistry::totals() const {
  absl::MutexLock lock(&mu_);
  return totals_;
}

std::vector<NodeStatusRegistry::StreamAnswers> NodeStatusRegistry::Answers() const {
  absl::MutexLock lock(&mu_);
  std::vector<StreamAnswers> answers;
  answers.reserve(streams_.size());
  for (const auto& [id, stream] : streams_) {
    StreamAnswers& out = answers.emplace_back();
    out.node.id = stream.node.id();
    out.node.zone = stream.node.locality().zone();
    out.node.uses_ads = stream.kind == "ads" || stream.kind == "delta ads";
    out.requested = stream.requested;
    for (ResourceType type : kAllResourceTypes) {
      out.claimed_set_version[Index(type)] = stream.types[Index(type)].claimed_set_version;
      out.sent_any[Index(type)] = stream.types[Index(type)].sent_any;
    }
    for (ResourceType type : kAllResourceTypes) {
      const TypeStatus& type_status = stream.types[Index(type)];
      std::vector<HeldAnswer>& held = out.held[Index(type)];
      held.reserve(type_status.held.size());
      for (const HeldResource& resource : type_status.held) {
        const Batch& batch = type_status.batches.at(resource.batch);
        HeldAnswer& answer = held.emplace_back();
        answer.resource = resource.resource;
        switch (batch.state) {
          case State::kSent:
            answer.answer = Answer::kPending;
            break;
          case State::kAcked:
            answer.answer = Answer::kAcked;
            break;
          case State::kNacked:
            answer.answer = Answer::kNacked;
            answer.error = batch.error;
            break;
        }
      }
    }
  }
  return answers;
}

uint64_t NodeStatusRegistry::answers_version() const {
  absl::MutexLock lock(&mu_);
  return answers_version_;
}

size_t NodeStatusRegistry::ConnectedStreams() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

size_t NodeStatusRegistry::ConnectedNodes() const {
  std::set<std::string_view> nodes;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, stream] : streams_) nodes.insert(stream.node.id());
  return nodes.size();
}

}  // namespace propsy::xds
