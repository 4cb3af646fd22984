#include "xds/resource_type.h"

#include <fmt/format.h>

namespace propsy::xds {
namespace {

struct TypeInfo {
  std::string_view url;
  std::string_view short_name;
  bool wildcard_by_default;
};

constexpr std::array<TypeInfo, kResourceTypeCount> kTypes = {{
    {"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", "secret", false},
    {"type.googleapis.com/envoy.config.cluster.v3.Cluster", "cluster", true},
    {"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", "endpoint", false},
    {"type.googleapis.com/envoy.config.listener.v3.Listener", "listener", true},
    {"type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "route", false},
}};

}  // namespace

std::string_view TypeUrl(ResourceType type) { return kTypes[Index(type)].url; }

std::string_view ShortName(ResourceType type) { return kTypes[Index(type)].short_name; }

bool WildcardByDefault(ResourceType type) { return kTypes[Index(type)].wildcard_by_default; }

std::optional<ResourceType> ResourceTypeFromUrl(std::string_view type_url) {
  for (ResourceType type : kAllResourceTypes) {
    if (kTypes[Index(type)].url == type_url) return type;
  }
  return std::nullopt;
}

absl::Status CheckTypeUrl(std::string_view type_url) {
  constexpr size_t kMaxLength = 256;
  auto malformed = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        fmt::format("malformed type_url \"{}\": {} (expected type.googleapis.com/<message name>)",
                    type_url.substr(0, kMaxLength), why));
  };
  if (type_url.size() > kMaxLength) return malformed("longer than 256 characters");
  const size_t slash = type_url.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return malformed("no prefix ending in '/'");
  const std::string_view message = type_url.substr(slash + 1);
  if (message.empty()) return malformed("no message name after the last '/'");
  // Identifiers separated by single dots: [A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*
  bool identifier_start = true;
  for (char c : message) {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (c == '.' && !identifier_start) {
      identifier_start = true;
    } else if (letter || (digit && !identifier_start)) {
      identifier_start = false;
    } else {
      return malformed("the message name is not a dotted protobuf name");
    }
  }
  if (identifier_start) return malformed("the message name ends with '.'");
  for (char c : type_url.substr(0, slash)) {
    if (c <= ' ' || c > '~') return malformed("the prefix has a space or a non-ASCII character");
  }
  return absl::OkStatus();
}

StreamScope StreamScope::Unserved(std::string_view type_url) {
  StreamScope scope;
  scope.fixed_url_ = type_url;
  return scope;
}

absl::StatusOr<RequestedType> StreamScope::Resolve(std::string_view type_url) const {
  if (!aggregated()) {
    if (type_url.empty() || type_url == fixed_url_) {
      return RequestedType{.served = served_, .url = fixed_url_};
    }
    return absl::InvalidArgumentError(
        fmt::format("type_url \"{}\" does not belong on this service (expected {})",
                    type_url.substr(0, 256), fixed_url_));
  }
  if (type_url.empty()) {
    return absl::InvalidArgumentError("type_url is required on an aggregated (ADS) stream");
  }
  if (std::optional<ResourceType> type = ResourceTypeFromUrl(type_url)) {
    return RequestedType{.served = *type, .url = TypeUrl(*type)};
  }
  if (absl::Status status = CheckTypeUrl(type_url); !status.ok()) return status;
  // Two kinds of well-formed URLs are refused rather than answered as empty,
  // since an empty set of listeners or clusters would make such a client
  // drop what it serves: Envoy's retired v2 API, and a served type under
  // another prefix.
  const std::string_view message = type_url.substr(type_url.rfind('/') + 1);
  if (message.starts_with("envoy.")) {
    for (std::string_view rest = message; !rest.empty();) {
      const size_t dot = rest.find('.');
      const std::string_view component = rest.substr(0, dot);
      if (component == "v2" || component.starts_with("v2alpha") ||
          component.starts_with("v2beta")) {
        return absl::InvalidArgumentError(
            fmt::format("type_url \"{}\" is of Envoy's v2 API, retired since Envoy 1.18: ProPsy "
                        "serves v3 only",
                        type_url));
      }
      rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    }
  }
  for (ResourceType type : kAllResourceTypes) {
    const std::string_view url = TypeUrl(type);
    if (url.substr(url.rfind('/') + 1) == message) {
      return absl::InvalidArgumentError(
          fmt::format("type_url \"{}\" names {} under another prefix: ProPsy serves it as \"{}\"",
                      type_url, message, url));
    }
  }
  return RequestedType{.served = std::nullopt, .url = type_url};
}

}  // namespace propsy::xds
