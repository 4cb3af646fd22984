#include "translate/conflicts.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace propsy::translate {
namespace {

const char* TypeName(model::ServiceType type) {
  return type == model::ServiceType::kTcp ? "TCP" : "HTTP";
}

// Route order: longer prefixes must match first, or "/" would shadow "/a".
bool RoutesBefore(const ResolvedService* a, const ResolvedService* b) {
  const std::string& pa = a->Spec().path_prefix;
  const std::string& pb = b->Spec().path_prefix;
  if (pa.size() != pb.size()) return pa.size() > pb.size();
  return pa < pb;
}

}  // namespace

NodePlan PlanListeners(std::vector<const ResolvedService*> services) {
  std::sort(services.begin(), services.end(),
            [](const ResolvedService* a, const ResolvedService* b) { return IsOlder(*a, *b); });
  NodePlan plan;
  std::map<std::string, ListenerPlan> listeners;
  for (const ResolvedService* service : services) {
    const model::ProPsyServiceSpec& spec = service->Spec();
    std::string name = spec.listen.ToString();
    auto it = listeners.find(name);
    if (it == listeners.end()) {
      listeners.emplace(name, ListenerPlan{.address = spec.listen,
                                           .name = name,
                                           .type = spec.type,
                                           .services = {service},
                                           .tls_source = nullptr});
      continue;
    }
    ListenerPlan& listener = it->second;
    // The first service on a listener is the oldest: it fixed the type.
    const ResolvedService* owner = listener.services.front();
    if (listener.type != spec.type || spec.type == model::ServiceType::kTcp) {
      plan.losses.push_back(
          {.loser = service,
           .winner = owner,
           .message = fmt::format("listen {} is taken by {} service {}", name,
                                  TypeName(listener.type), owner->key.ToString())});
      continue;
    }
    auto same_path = std::find_if(listener.services.begin(), listener.services.end(),
                                  [&spec](const ResolvedService* other) {
                                    return other->Spec().path_prefix == spec.path_prefix;
                                  });
    if (same_path != listener.services.end()) {
      plan.losses.push_back(
          {.loser = service,
           .winner = *same_path,
           .message = fmt::format("listen {} path {} is taken by {}", name, spec.path_prefix,
                                  (*same_path)->key.ToString())});
      continue;
    }
    listener.services.push_back(service);
  }
  for (auto& [name, listener] : listeners) {
    if (listener.type == model::ServiceType::kHttp) {
      std::sort(listener.services.begin(), listener.services.end(), RoutesBefore);
    }
    // "/" routes last when present. Without it, the most general route still
    // decides, so a lone "/app/" service asking for TLS gets it.
    listener.tls_source = listener.services.back();
    plan.listeners.push_back(std::move(listener));
  }
  return plan;
}

}  // namespace propsy::translate
