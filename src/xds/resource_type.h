#pragma once

#include <array>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"

namespace propsy::xds {

// The xDS resource types ProPsy serves. The enum order is the ADS send order
// for additions and updates (make before break); removals go in reverse.
// Secrets come first because listeners and clusters reference them.
enum class ResourceType { kSecret = 0, kCluster, kEndpoint, kListener, kRoute };

inline constexpr int kResourceTypeCount = 5;
inline constexpr std::array<ResourceType, kResourceTypeCount> kAllResourceTypes = {
    ResourceType::kSecret, ResourceType::kCluster, ResourceType::kEndpoint, ResourceType::kListener,
    ResourceType::kRoute};

inline constexpr int Index(ResourceType type) { return static_cast<int>(type); }

std::string_view TypeUrl(ResourceType type);
std::optional<ResourceType> ResourceTypeFromUrl(std::string_view type_url);

// Short name for logs and metrics ("cluster", "listener", ...).
std::string_view ShortName(ResourceType type);

// Listeners and clusters are subscribed to as a whole (wildcard) when a
// state-of-the-world client names no resources; the others only by name.
bool WildcardByDefault(ResourceType type);

// Checks that `type_url` has the shape of an xDS type URL: a prefix ending
// in '/' (Envoy uses "type.googleapis.com/") and a protobuf message name of
// dot-separated identifiers, at most 256 characters in all. Any name of that
// shape is a type a client may ask for; anything else is a malformed request.
absl::Status CheckTypeUrl(std::string_view type_url);

// The type a request asks for: one ProPsy serves, or another xDS type, which
// is answered as an empty set (SPEC §4: a type ProPsy does not serve never
// breaks a stream).
struct RequestedType {
  std::optional<ResourceType> served;  // nullopt: not served
  std::string_view url;                // valid as long as the request's type_url
};

// The types one discovery stream carries: every type (ADS), or the one type of
// a per-type service, which may be a type ProPsy does not serve (the runtime
// service's Runtime, answered as empty).
class StreamScope {
 public:
  // Implicit, so per-type streams are made from their type and ADS streams
  // from std::nullopt.
  StreamScope(std::nullopt_t) {}  // NOLINT(google-explicit-constructor)
  StreamScope(ResourceType type)  // NOLINT(google-explicit-constructor)
      : served_(type), fixed_url_(TypeUrl(type)) {}
  StreamScope(std::optional<ResourceType> type)  // NOLINT(google-explicit-constructor)
      : served_(type), fixed_url_(type.has_value() ? TypeUrl(*type) : std::string_view()) {}
  // The service of a type ProPsy does not serve. `type_url` must outlive the
  // scope (the services pass string literals).
  static StreamScope Unserved(std::string_view type_url);

  bool aggregated() const { return fixed_url_.empty(); }

  // The type a request on this stream asks for, or an error naming what is
  // wrong: on a per-type service an empty type_url means its type and any
  // other type is refused. On ADS the type_url is required and must be well
  // formed (CheckTypeUrl); types of Envoy's retired v2 API and served types
  // under another prefix are refused too (an empty answer would make such a
  // client drop its listeners and clusters).
  absl::StatusOr<RequestedType> Resolve(std::string_view type_url) const;

 private:
  StreamScope() = default;
  std::optional<ResourceType> served_;
  std::string_view fixed_url_;  // empty on ADS
};

}  // namespace propsy::xds
