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

absl::StatusOr<ResourceType> ResolveRequestType(std::optional<ResourceType> fixed_type,
                                                std::string_view type_url) {
  if (fixed_type.has_value()) {
    if (type_url.empty() || type_url == TypeUrl(*fixed_type)) return *fixed_type;
    return absl::InvalidArgumentError(
        fmt::format("type_url \"{}\" does not belong on this service (expected {})", type_url,
                    TypeUrl(*fixed_type)));
  }
  if (type_url.empty()) {
    return absl::InvalidArgumentError("type_url is required on an aggregated (ADS) stream");
  }
  std::optional<ResourceType> type = ResourceTypeFromUrl(type_url);
  if (!type.has_value()) {
    return absl::InvalidArgumentError(fmt::format("unknown type_url \"{}\"", type_url));
  }
  return *type;
}

}  // namespace propsy::xds
