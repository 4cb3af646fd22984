// libFuzzer target for the xDS protocol state machines (SotwStreamState,
// DeltaStreamState): one stream is fed a sequence of DiscoveryRequests with
// fuzzed names, nonces, versions, error details and type URLs (served types,
// types ProPsy does not serve, malformed and retired ones), interleaved with
// snapshot changes and responses. After every step the stream is checked
// against an independent model of its stated invariants
// (xds_stream_models.h); at the end the client answers everything and the
// stream must settle where the protocol says (every subscribed resource at
// its current version or rejected, every MUST answered, no resend loop).
//
// Input: byte 0 picks the stream: bit 0 the protocol (0 state of the world,
// 1 delta); bits 1-2 the scope (0, 1: ADS; 2: the per-type service of
// ResourceType (byte0 >> 3) % 5; 3: the runtime service, a type ProPsy does
// not serve). Bytes 1-4 are the first snapshot (as operation 4 reads it).
// Then operations, each chosen by a byte modulo 8:
//   0, 1  a request: [type][names][flags] (delta: [type][subscribe][unsubscribe])
//         type % 11: 0-4 ResourceType, 5 Runtime, 6 another unserved type,
//         7 empty, 8 a v2 type, 9 "type.googleapis.com/fuzz.T<byte>",
//         10 raw bytes ([length][bytes]); on a per-type stream 0-6 mean its
//         own type (or an empty URL)
//         names/subscribe: bits 0-3 names a-d, bit 4 "*", bits 5-6 the nonce
//         (latest of the type, [index] into every nonce sent, empty, bogus),
//         bit 7 an error_detail
//         SotW flags: bits 0-1 version_info (last accepted, latest sent,
//         empty, bogus); delta unsubscribe: bits 0-4 as names, bit 5 with
//         initial_resource_versions (bit 6: current versions, else bogus)
//   2, 3  ACK / NACK the response in flight of a type [which]
//   4     a new snapshot [presence x3][versions]: resource of name a-d of each
//         type present per bit, its version per bit of the last byte
//   5-7   the next response, if any is due
#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "fuzz/xds_stream_models.h"
#include "xds/delta_stream_state.h"
#include "xds/resource.h"
#include "xds/resource_type.h"
#include "xds/snapshot.h"
#include "xds/sotw_stream_state.h"
#include "xds/unserved_sotw_set.h"

namespace propsy::fuzz {
namespace {

using xds::DeltaStreamState;
using xds::RequestEvent;
using xds::ResourcePtr;
using xds::SentSummary;
using xds::SnapshotPtr;
using xds::SotwStreamState;
using xds::StreamScope;

constexpr std::array<std::string_view, 4> kNames = {"a", "b", "c", "d"};
constexpr std::string_view kRuntime = "type.googleapis.com/envoy.service.runtime.v3.Runtime";
constexpr std::string_view kOtherUnserved = "type.googleapis.com/example.v1.Other";
constexpr size_t kMaxDrainResponses = 200;

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return size_ == 0; }
  uint8_t Byte() {
    if (size_ == 0) return 0;
    --size_;
    return *data_++;
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

SnapshotPtr MakeSnapshot(Input& input) {
  const uint32_t presence = input.Byte() | (input.Byte() << 8) | (input.Byte() << 16);
  const uint8_t versions = input.Byte();
  xds::NodeSnapshotBuilder builder;
  int bit = 0;
  for (ResourceType type : xds::kAllResourceTypes) {
    for (size_t i = 0; i < kNames.size(); ++i, ++bit) {
      if ((presence & (1u << bit)) == 0) continue;
      // A fresh object each time: equal versions must be recognized by
      // value, not by pointer.
      auto resource = std::make_shared<xds::Resource>();
      resource->name = std::string(kNames[i]);
      resource->version =
          fmt::format("{}-{}-v{}", xds::ShortName(type), kNames[i], (versions >> (bit % 8)) & 1);
      resource->body.set_type_url(std::string(xds::TypeUrl(type)));
      builder.Add(type, std::move(resource));
    }
  }
  return builder.Build();
}

// What a request's type URL is, as the model expects the server to see it.
struct UrlChoice {
  std::string url;
  enum class Expect { kServed, kUnserved, kError, kEither } expect;
  std::optional<ResourceType> served;
};

UrlChoice ChooseUrl(Input& input, const StreamScope& scope, std::optional<ResourceType> fixed,
                    std::string_view fixed_url) {
  const uint8_t choice = input.Byte() % 11;
  if (!scope.aggregated() && choice <= 6) {
    return {choice % 2 == 0 ? std::string(fixed_url) : "",
            fixed.has_value() ? UrlChoice::Expect::kServed : UrlChoice::Expect::kUnserved, fixed};
  }
  UrlChoice made;
  if (choice <= 4) {
    const auto type = static_cast<ResourceType>(choice);
    made = {std::string(xds::TypeUrl(type)), UrlChoice::Expect::kServed, type};
  } else if (choice == 5) {
    made = {std::string(kRuntime), UrlChoice::Expect::kUnserved, std::nullopt};
  } else if (choice == 6) {
    made = {std::string(kOtherUnserved), UrlChoice::Expect::kUnserved, std::nullopt};
  } else if (choice == 7) {
    made = {"", UrlChoice::Expect::kError, std::nullopt};
  } else if (choice == 8) {
    made = {"type.googleapis.com/envoy.api.v2.Cluster", UrlChoice::Expect::kError, std::nullopt};
  } else if (choice == 9) {
    made = {fmt::format("type.googleapis.com/fuzz.T{}", input.Byte()), UrlChoice::Expect::kUnserved,
            std::nullopt};
  } else {
    std::string raw;
    for (size_t length = input.Byte() % 24; length > 0; --length) {
      raw.push_back(static_cast<char>(input.Byte()));
    }
    made = {raw, UrlChoice::Expect::kEither, std::nullopt};
  }
  if (!scope.aggregated()) {
    // An empty type_url on a per-type service means its own type.
    if (made.url.empty() || made.url == fixed_url) {
      return {made.url,
              fixed.has_value() ? UrlChoice::Expect::kServed : UrlChoice::Expect::kUnserved, fixed};
    }
    made.expect = UrlChoice::Expect::kError;
  }
  return made;
}

// The part of both drivers that does not depend on the protocol.
template <typename State, typename Model>
class StreamDriver {
 public:
  StreamDriver(StreamScope scope, std::optional<ResourceType> fixed, std::string_view fixed_url)
      : scope_(scope), fixed_(fixed), fixed_url_(fixed_url), state_(scope) {}

  void SetSnapshot(SnapshotPtr snapshot) {
    snapshot_ = snapshot;
    state_.SetSnapshot(std::move(snapshot));
  }

 protected:
  // The model of the type a request names, made on its first request;
  // nullopt (and `error` set) when the server must refuse the request.
  Model* TypeFor(const UrlChoice& choice, const absl::StatusOr<RequestEvent>& event) {
    switch (choice.expect) {
      case UrlChoice::Expect::kError:
        PROPSY_FUZZ_CHECK(!event.ok());
        return nullptr;
      case UrlChoice::Expect::kEither:
        // Raw bytes: malformed (refused) or a well-formed unserved type.
        if (!event.ok()) return nullptr;
        PROPSY_FUZZ_CHECK(!event->type.has_value());
        PROPSY_FUZZ_CHECK(event->unserved_type_url == choice.url);
        break;
      case UrlChoice::Expect::kServed:
        PROPSY_FUZZ_CHECK(event.ok());
        break;
      case UrlChoice::Expect::kUnserved: {
        const std::string url = choice.url.empty() ? std::string(fixed_url_) : choice.url;
        const bool known = types_.contains(url);
        if (!known && unserved_count_ >= State::kMaxUnservedTypes) {
          PROPSY_FUZZ_CHECK(!event.ok());
          PROPSY_FUZZ_CHECK(event.status().code() == absl::StatusCode::kResourceExhausted);
          return nullptr;
        }
        PROPSY_FUZZ_CHECK(event.ok());
        break;
      }
    }
    const std::string url = event->type.has_value() ? std::string(xds::TypeUrl(*event->type))
                                                    : event->unserved_type_url;
    if (choice.expect == UrlChoice::Expect::kServed)
      PROPSY_FUZZ_CHECK(event->type == choice.served);
    if (choice.expect == UrlChoice::Expect::kUnserved) {
      PROPSY_FUZZ_CHECK(!event->type.has_value());
      PROPSY_FUZZ_CHECK(url == (choice.url.empty() ? fixed_url_ : choice.url));
    }
    auto [it, added] = types_.try_emplace(url);
    Model& type = it->second;
    if (added) {
      type.url = url;
      type.served = event->type;
      type.send_position = type.served.has_value() ? 1000 + xds::Index(*type.served)
                                                   : static_cast<int>(unserved_count_++);
    }
    PROPSY_FUZZ_CHECK(type.served == event->type);
    return &type;
  }

  std::string ChooseNonce(Input& input, int choice, const Model* type) {
    switch (choice) {
      case 0:
        return type != nullptr ? type->latest_nonce : "";
      case 1:
        return all_nonces_.empty() ? "" : all_nonces_[input.Byte() % all_nonces_.size()];
      case 2:
        return "";
      default:
        return "bogus";
    }
  }

  Model* InFlight(uint8_t which) {
    std::vector<Model*> answerable;
    for (auto& [url, type] : types_) {
      if (type.in_flight) answerable.push_back(&type);
    }
    return answerable.empty() ? nullptr : answerable[which % answerable.size()];
  }

  Model& ModelOf(const std::string& url) {
    auto it = types_.find(url);
    PROPSY_FUZZ_CHECK(it != types_.end());
    return it->second;
  }

  const StreamScope scope_;
  const std::optional<ResourceType> fixed_;
  const std::string_view fixed_url_;
  State state_;
  SnapshotPtr snapshot_;
  std::map<std::string, Model> types_;
  size_t unserved_count_ = 0;
  std::set<std::string> nonces_;
  std::vector<std::string> all_nonces_;
};

std::vector<std::string> NamesFromBits(uint8_t bits) {
  std::vector<std::string> names;
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (bits & (1u << i)) names.emplace_back(kNames[i]);
  }
  if (bits & 0x10) names.emplace_back("*");
  return names;
}

class SotwDriver : public StreamDriver<SotwStreamState, SotwTypeModel> {
 public:
  using StreamDriver::StreamDriver;

  // What the client may be sent of a type: the snapshot's set, or for a type
  // ProPsy does not serve the empty set (empty layers for the runtime).
  std::map<std::string, ResourcePtr> AvailableFor(const SotwTypeModel& type) const {
    if (type.served.has_value()) return snapshot_->Of(*type.served).by_name;
    std::map<std::string, ResourcePtr> layers = xds::UnservedSotwSet(type.url, type.names)->by_name;
    for (const auto& [name, layer] : layers) {
      PROPSY_FUZZ_CHECK(type.url == kRuntime && type.names.contains(name));
    }
    return layers;
  }

  // False once the server refused a request (the stream would be closed).
  bool Request(Input& input) {
    const UrlChoice choice = ChooseUrl(input, scope_, fixed_, fixed_url_);
    const uint8_t names_bits = input.Byte();
    const uint8_t flags = input.Byte();
    const std::vector<std::string> names = NamesFromBits(names_bits);
    const std::string url = choice.url.empty() ? std::string(fixed_url_) : choice.url;
    SotwTypeModel* known = types_.contains(url) ? &types_.at(url) : nullptr;
    SotwStreamState::Request request;
    request.set_type_url(choice.url);
    for (const std::string& name : names) request.add_resource_names(name);
    request.set_response_nonce(ChooseNonce(input, (names_bits >> 5) & 3, known));
    const bool error = names_bits & 0x80;
    if (error) request.mutable_error_detail()->set_message("fuzzed rejection");
    switch (flags & 3) {
      case 0:
        request.set_version_info(
            known != nullptr && known->nacked_version.empty() ? known->last_sent_version : "");
        break;
      case 1:
        request.set_version_info(known != nullptr ? known->last_sent_version : "");
        break;
      case 2:
        break;
      default:
        request.set_version_info("bogus-version");
    }
    return Send(choice, request);
  }

  // ACK or NACK the response in flight of one type, as a client would.
  void Answer(uint8_t which, bool nack) {
    SotwTypeModel* type = InFlight(which);
    if (type == nullptr) return;
    SotwStreamState::Request request;
    request.set_type_url(type->url);
    for (const std::string& name : type->client_names) request.add_resource_names(name);
    request.set_response_nonce(type->latest_nonce);
    request.set_version_info(type->last_sent_version);
    if (nack) request.mutable_error_detail()->set_message("fuzzed rejection");
    UrlChoice choice{type->url,
                     type->served ? UrlChoice::Expect::kServed : UrlChoice::Expect::kUnserved,
                     type->served};
    PROPSY_FUZZ_CHECK(Send(choice, request));
  }

  // The next response, checked and recorded; false when none is due.
  bool Next() {
    SentSummary summary;
    std::optional<SotwStreamState::Response> response = state_.NextResponse(&summary);
    if (!response.has_value()) return false;
    SotwStreamState::AttachBodies(*response, summary.resources);
    SotwTypeModel& type = ModelOf(response->type_url());
    CheckResponseBasics(type, response->nonce(), nonces_);
    all_nonces_.push_back(response->nonce());
    // A response only when the set changed, never the rejected version.
    PROPSY_FUZZ_CHECK(!response->version_info().empty());
    PROPSY_FUZZ_CHECK(response->version_info() != type.last_sent_version);
    PROPSY_FUZZ_CHECK(response->version_info() != type.nacked_version);
    // The summary describes exactly what went on the wire.
    PROPSY_FUZZ_CHECK(summary.type == type.served);
    PROPSY_FUZZ_CHECK(summary.version == response->version_info());
    PROPSY_FUZZ_CHECK(summary.nonce == response->nonce());
    PROPSY_FUZZ_CHECK(static_cast<int>(summary.resources.size()) == response->resources_size());

    const std::map<std::string, ResourcePtr> available = AvailableFor(type);
    std::map<std::string, ResourcePtr> carried;
    for (const ResourcePtr& resource : summary.resources) {
      PROPSY_FUZZ_CHECK(carried.emplace(resource->name, resource).second);
      PROPSY_FUZZ_CHECK(type.Interested(resource->name));
      auto current = available.find(resource->name);
      if (current != available.end()) {
        PROPSY_FUZZ_CHECK(current->second->version == resource->version);
      } else {
        // Only a removal held back on ADS carries what the snapshot lost.
        PROPSY_FUZZ_CHECK(scope_.aggregated());
        auto held = type.believed.find(resource->name);
        PROPSY_FUZZ_CHECK(held != type.believed.end() && held->second == resource->version);
      }
    }
    if (IsCompleteEachResponse(type.served)) {
      for (const auto& [name, resource] : available) {
        if (type.Interested(name)) PROPSY_FUZZ_CHECK(carried.contains(name));
      }
      PROPSY_FUZZ_CHECK(response->version_info() == xds::SetVersion(carried));
      type.believed.clear();
    }
    for (const std::string& name : summary.removed_names) {
      PROPSY_FUZZ_CHECK(!carried.contains(name));
      // A subscribed resource the snapshot lost is removed only once every
      // later type is answered (reverse order on ADS).
      if (scope_.aggregated() && type.Interested(name) && !available.contains(name)) {
        PROPSY_FUZZ_CHECK(LaterTypesIdle(types_, type));
      }
      type.believed.erase(name);
    }
    for (const auto& [name, resource] : carried) type.believed[name] = resource->version;
    type.latest_nonce = response->nonce();
    type.last_sent_version = response->version_info();
    type.in_flight = true;
    return true;
  }

  // The client answers everything (and repeats its subscription, as Envoy
  // does with every request); the stream must settle where the snapshot says.
  void DrainAndCheck() {
    std::vector<std::string> urls;
    for (const auto& [url, type] : types_) urls.push_back(url);
    for (const std::string& url : urls) {
      SotwTypeModel& type = types_.at(url);
      if (!type.requested) continue;
      SotwStreamState::Request request;
      request.set_type_url(url);
      for (const std::string& name : type.client_names) request.add_resource_names(name);
      request.set_response_nonce(type.latest_nonce);
      request.set_version_info(type.last_sent_version);
      UrlChoice choice{url, type.served ? UrlChoice::Expect::kServed : UrlChoice::Expect::kUnserved,
                       type.served};
      PROPSY_FUZZ_CHECK(Send(choice, request));
    }
    for (size_t sent = 0;; ++sent) {
      PROPSY_FUZZ_CHECK(sent <= kMaxDrainResponses);  // no resend loop
      if (!Next()) break;
      Answer(0, /*nack=*/false);
    }
    for (const auto& [url, type] : types_) {
      if (!type.requested || type.in_flight) continue;
      std::map<std::string, ResourcePtr> desired;
      for (const auto& [name, resource] : AvailableFor(type)) {
        if (type.Interested(name)) desired.emplace(name, resource);
      }
      const std::string version = xds::SetVersion(desired);
      // At the snapshot's version, or kept on the last good one after a NACK.
      PROPSY_FUZZ_CHECK(version == type.last_sent_version || version == type.nacked_version);
      // Listeners and clusters: the client holds exactly that set.
      if (version == type.last_sent_version && IsCompleteEachResponse(type.served) &&
          !type.latest_nonce.empty()) {
        PROPSY_FUZZ_CHECK(type.believed.size() == desired.size());
        for (const auto& [name, resource] : desired) {
          auto held = type.believed.find(name);
          PROPSY_FUZZ_CHECK(held != type.believed.end() && held->second == resource->version);
        }
      }
    }
  }

 private:
  bool Send(const UrlChoice& choice, const SotwStreamState::Request& request) {
    absl::StatusOr<RequestEvent> event = state_.OnRequest(request);
    SotwTypeModel* type = TypeFor(choice, event);
    if (type == nullptr) return false;
    // Which request is what: a type's first request, a stale one (not the
    // latest nonce: ignored whole), an answer to the response in flight, or
    // a subscription change.
    RequestEvent::Kind expected = RequestEvent::Kind::kRequest;
    if (type->requested && request.response_nonce() != type->latest_nonce) {
      expected = RequestEvent::Kind::kStaleNonce;
    } else if (type->requested && type->in_flight) {
      expected = request.has_error_detail() ? RequestEvent::Kind::kNack : RequestEvent::Kind::kAck;
    }
    PROPSY_FUZZ_CHECK(event->kind == expected);
    if (expected == RequestEvent::Kind::kStaleNonce) return true;
    if (expected == RequestEvent::Kind::kAck || expected == RequestEvent::Kind::kNack) {
      PROPSY_FUZZ_CHECK(event->version == type->last_sent_version);
      type->in_flight = false;
      type->nacked_version = expected == RequestEvent::Kind::kNack ? type->last_sent_version : "";
    }
    if (!type->requested) type->last_sent_version = request.version_info();
    type->requested = true;
    type->client_names.assign(request.resource_names().begin(), request.resource_names().end());
    type->names.clear();
    type->wildcard = request.resource_names().empty() && type->served.has_value() &&
                     xds::WildcardByDefault(*type->served);
    for (const std::string& name : request.resource_names()) {
      if (name == "*") {
        type->wildcard = true;
      } else {
        type->names.insert(name);
      }
    }
    return true;
  }
};

class DeltaDriver : public StreamDriver<DeltaStreamState, DeltaTypeModel> {
 public:
  using StreamDriver::StreamDriver;

  bool Request(Input& input) {
    const UrlChoice choice = ChooseUrl(input, scope_, fixed_, fixed_url_);
    const uint8_t subscribe_bits = input.Byte();
    const uint8_t unsubscribe_bits = input.Byte();
    const std::string url = choice.url.empty() ? std::string(fixed_url_) : choice.url;
    DeltaTypeModel* known = types_.contains(url) ? &types_.at(url) : nullptr;
    DeltaStreamState::Request request;
    request.set_type_url(choice.url);
    for (const std::string& name : NamesFromBits(subscribe_bits)) {
      request.add_resource_names_subscribe(name);
    }
    for (const std::string& name : NamesFromBits(unsubscribe_bits & 0x1f)) {
      request.add_resource_names_unsubscribe(name);
    }
    request.set_response_nonce(ChooseNonce(input, (subscribe_bits >> 5) & 3, known));
    if (subscribe_bits & 0x80) request.mutable_error_detail()->set_message("fuzzed rejection");
    if (unsubscribe_bits & 0x20) {
      const auto& available = Available(snapshot_, choice.served);
      for (std::string_view name : kNames) {
        auto current = available.find(std::string(name));
        const bool correct = (unsubscribe_bits & 0x40) && current != available.end();
        (*request.mutable_initial_resource_versions())[std::string(name)] =
            correct ? current->second->version : "bogus-version";
      }
    }
    return Send(choice, request);
  }

  void Answer(uint8_t which, bool nack) {
    DeltaTypeModel* type = InFlight(which);
    if (type == nullptr) return;
    DeltaStreamState::Request request;
    request.set_type_url(type->url);
    request.set_response_nonce(type->latest_nonce);
    if (nack) request.mutable_error_detail()->set_message("fuzzed rejection");
    UrlChoice choice{type->url,
                     type->served ? UrlChoice::Expect::kServed : UrlChoice::Expect::kUnserved,
                     type->served};
    PROPSY_FUZZ_CHECK(Send(choice, request));
  }

  bool Next() {
    SentSummary summary;
    std::optional<DeltaStreamState::Response> response = state_.NextResponse(&summary);
    if (!response.has_value()) return false;
    DeltaStreamState::AttachBodies(*response, summary.resources);
    DeltaTypeModel& type = ModelOf(response->type_url());
    CheckResponseBasics(type, response->nonce(), nonces_);
    all_nonces_.push_back(response->nonce());
    PROPSY_FUZZ_CHECK(summary.type == type.served);
    PROPSY_FUZZ_CHECK(summary.nonce == response->nonce());
    PROPSY_FUZZ_CHECK(summary.version == response->system_version_info());
    PROPSY_FUZZ_CHECK(static_cast<int>(summary.resources.size()) == response->resources_size());
    PROPSY_FUZZ_CHECK(summary.removed_names.size() ==
                      static_cast<size_t>(response->removed_resources_size()));
    const auto& available = Available(snapshot_, type.served);
    PROPSY_FUZZ_CHECK(response->system_version_info() == xds::SetVersion(available));

    type.before_in_flight.clear();
    std::set<std::string> answered;
    for (const auto& entry : response->resources()) {
      const std::string& name = entry.name();
      PROPSY_FUZZ_CHECK(answered.insert(name).second);
      // Only what the snapshot has now, and only what the client wants.
      auto current = available.find(name);
      PROPSY_FUZZ_CHECK(current != available.end());
      PROPSY_FUZZ_CHECK(entry.version() == current->second->version);
      PROPSY_FUZZ_CHECK(type.Interested(name) || type.answer_anyway.contains(name));
      // Not what the client holds or rejected, unless it must be answered.
      auto held = type.believed.find(name);
      auto rejected = type.rejected.find(name);
      if ((held != type.believed.end() && held->second == entry.version()) ||
          (rejected != type.rejected.end() && rejected->second == entry.version())) {
        PROPSY_FUZZ_CHECK(type.answer_anyway.contains(name));
      }
      type.before_in_flight[name] =
          held != type.believed.end() ? std::optional(held->second) : std::nullopt;
      type.believed[name] = entry.version();
      type.told_absent.erase(name);
    }
    for (const std::string& name : response->removed_resources()) {
      PROPSY_FUZZ_CHECK(answered.insert(name).second);
      PROPSY_FUZZ_CHECK(!available.contains(name));
      if (type.believed.contains(name)) {
        // A removal: in reverse order on ADS.
        if (scope_.aggregated()) PROPSY_FUZZ_CHECK(LaterTypesIdle(types_, type));
        type.believed.erase(name);
      } else {
        // A subscribed name that does not exist: told once, unless asked again.
        PROPSY_FUZZ_CHECK(type.names.contains(name) || type.answer_anyway.contains(name));
        PROPSY_FUZZ_CHECK(!type.told_absent.contains(name) || type.answer_anyway.contains(name));
      }
      if (type.names.contains(name)) type.told_absent.insert(name);
    }
    for (const std::string& name : answered) type.answer_anyway.erase(name);
    type.latest_nonce = response->nonce();
    type.in_flight_version = response->system_version_info();
    type.in_flight = true;
    return true;
  }

  void DrainAndCheck() {
    for (size_t sent = 0;; ++sent) {
      while (InFlight(0) != nullptr) Answer(0, /*nack=*/false);
      PROPSY_FUZZ_CHECK(sent <= kMaxDrainResponses);  // no resend loop
      if (!Next()) break;
    }
    for (const auto& [url, type] : types_) {
      if (!type.requested) continue;
      // Both MUSTs: every name that had to be answered was.
      PROPSY_FUZZ_CHECK(type.answer_anyway.empty());
      const auto& available = Available(snapshot_, type.served);
      for (const auto& [name, resource] : available) {
        if (!type.Interested(name)) continue;
        auto held = type.believed.find(name);
        auto rejected = type.rejected.find(name);
        PROPSY_FUZZ_CHECK(
            (held != type.believed.end() && held->second == resource->version) ||
            (rejected != type.rejected.end() && rejected->second == resource->version));
      }
      for (const auto& [name, version] : type.believed) {
        PROPSY_FUZZ_CHECK(available.contains(name));  // every removal went out
      }
      for (const std::string& name : type.names) {
        if (!available.contains(name)) PROPSY_FUZZ_CHECK(type.told_absent.contains(name));
      }
    }
  }

 private:
  bool Send(const UrlChoice& choice, const DeltaStreamState::Request& request) {
    absl::StatusOr<RequestEvent> event = state_.OnRequest(request);
    DeltaTypeModel* type = TypeFor(choice, event);
    if (type == nullptr) return false;
    const bool first = !type->requested;
    RequestEvent::Kind expected = RequestEvent::Kind::kRequest;
    if (!first && !request.response_nonce().empty()) {
      if (type->in_flight && request.response_nonce() == type->latest_nonce) {
        expected =
            request.has_error_detail() ? RequestEvent::Kind::kNack : RequestEvent::Kind::kAck;
      } else if (request.response_nonce() != type->latest_nonce) {
        expected = RequestEvent::Kind::kStaleNonce;
      }
    }
    PROPSY_FUZZ_CHECK(event->kind == expected);
    if (expected == RequestEvent::Kind::kAck || expected == RequestEvent::Kind::kNack) {
      PROPSY_FUZZ_CHECK(event->version == type->in_flight_version);
      type->in_flight = false;
      for (const auto& [name, before] : type->before_in_flight) {
        if (expected == RequestEvent::Kind::kAck) {
          type->rejected.erase(name);
          continue;
        }
        // Rejected: the client keeps what it had (if it still holds it).
        auto held = type->believed.find(name);
        if (held == type->believed.end()) continue;
        type->rejected[name] = held->second;
        if (before.has_value()) {
          held->second = *before;
        } else {
          type->believed.erase(held);
        }
      }
      type->before_in_flight.clear();
    }
    if (first) {
      type->requested = true;
      for (const auto& [name, version] : request.initial_resource_versions()) {
        type->believed[name] = version;
      }
      type->wildcard = request.resource_names_subscribe().empty() && type->served.has_value() &&
                       xds::WildcardByDefault(*type->served);
    }
    for (const std::string& name : request.resource_names_subscribe()) {
      if (name == "*") {
        type->wildcard = true;
        continue;
      }
      type->names.insert(name);
      if (!first) type->answer_anyway.insert(name);
    }
    for (const std::string& name : request.resource_names_unsubscribe()) {
      if (name == "*") {
        type->wildcard = false;
        std::erase_if(type->believed,
                      [&](const auto& held) { return !type->names.contains(held.first); });
        std::erase_if(type->answer_anyway,
                      [&](const std::string& held) { return !type->names.contains(held); });
        continue;
      }
      type->names.erase(name);
      type->told_absent.erase(name);
      if (type->wildcard) {
        type->answer_anyway.insert(name);
      } else {
        type->believed.erase(name);
        type->answer_anyway.erase(name);
      }
    }
    return true;
  }
};

template <typename Driver>
void Run(Input& input, Driver& driver) {
  while (!input.empty()) {
    switch (input.Byte() % 8) {
      case 0:
      case 1:
        if (!driver.Request(input)) return;  // refused: the stream would end here
        break;
      case 2:
        driver.Answer(input.Byte(), /*nack=*/false);
        break;
      case 3:
        driver.Answer(input.Byte(), /*nack=*/true);
        break;
      case 4:
        driver.SetSnapshot(MakeSnapshot(input));
        break;
      default:
        driver.Next();
        break;
    }
  }
  driver.DrainAndCheck();
}

}  // namespace
}  // namespace propsy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace propsy::fuzz;
  Input input(data, size);
  const uint8_t stream = input.Byte();
  const bool delta = stream & 1;
  std::optional<ResourceType> fixed;
  std::string_view fixed_url;
  StreamScope scope = std::nullopt;
  switch ((stream >> 1) & 3) {
    case 2:
      fixed = static_cast<ResourceType>((stream >> 3) % propsy::xds::kResourceTypeCount);
      fixed_url = propsy::xds::TypeUrl(*fixed);
      scope = *fixed;
      break;
    case 3:
      fixed_url = kRuntime;
      scope = StreamScope::Unserved(kRuntime);
      break;
    default:
      break;
  }
  // Every stream starts with a snapshot: the server serves nothing before.
  if (delta) {
    DeltaDriver driver(scope, fixed, fixed_url);
    driver.SetSnapshot(MakeSnapshot(input));
    Run(input, driver);
  } else {
    SotwDriver driver(scope, fixed, fixed_url);
    driver.SetSnapshot(MakeSnapshot(input));
    Run(input, driver);
  }
  return 0;
}
