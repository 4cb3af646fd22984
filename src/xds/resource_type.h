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

// The type a request on a stream asks for. `fixed_type` is the one type of a
// per-type service (where an empty type_url means that type); nullopt on ADS.
absl::StatusOr<ResourceType> ResolveRequestType(std::optional<ResourceType> fixed_type,
                                                std::string_view type_url);

}  // namespace propsy::xds
