#include "sources/endpoints_fallback_log.h"

#include <spdlog/spdlog.h>

namespace propsy::sources {

void EndpointsFallbackLog::Update(const model::ClusterObjectsPtr& objects) {
  if (objects == nullptr || objects == last_) return;
  last_ = objects;
  std::set<model::ObjectKey> now;
  for (const auto& [service, endpoints] : objects->endpoints) {
    if (endpoints != nullptr && model::UsesCoreEndpoints(*endpoints)) now.insert(service);
  }
  for (const model::ObjectKey& service : now) {
    if (!using_core_endpoints_.contains(service)) {
      spdlog::info("{}: service {} has no EndpointSlice here; using its core/v1 Endpoints", source_,
                   service.ToString());
    }
  }
  for (const model::ObjectKey& service : using_core_endpoints_) {
    if (!now.contains(service)) {
      spdlog::info("{}: service {} no longer uses its core/v1 Endpoints", source_,
                   service.ToString());
    }
  }
  using_core_endpoints_ = std::move(now);
}

}  // namespace propsy::sources
