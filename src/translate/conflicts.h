#pragma once

#include <string>
#include <vector>

#include "model/listen_address.h"
#include "model/propsy_service.h"
#include "translate/service_resolution.h"

namespace propsy::translate {

// The services one node serves on one listen address, after conflicts.
struct ListenerPlan {
  model::ListenAddress address;
  std::string name;  // address.ToString(): the listener's and route configuration's name
  model::ServiceType type = model::ServiceType::kHttp;  // set by the oldest service on it
  // The winners. HTTP: distinct path prefixes in route order (longest prefix
  // first, ties by text). TCP: exactly one.
  std::vector<const ResolvedService*> services;
  // The service whose tlsCertificateSecret decides the listener's TLS: TCP
  // the only one; HTTP the one with the most general route, i.e. path prefix
  // "/", or when no service has "/", the shortest prefix (the last route).
  // Never null.
  const ResolvedService* tls_source = nullptr;
};

// A service that lost a conflict on a node, and to whom.
struct ConflictLoss {
  const ResolvedService* loser = nullptr;
  const ResolvedService* winner = nullptr;
  std::string message;  // e.g. "listen 0.0.0.0:80 path /a is taken by ns/older"
};

struct NodePlan {
  std::vector<ListenerPlan> listeners;  // sorted by name
  std::vector<ConflictLoss> losses;     // in age order of the losers
};

// Settles the conflicts among the services one node gets (SPEC §3): going
// from the oldest service to the newest, a service loses when its listen
// address already has a listener of the other type, a TCP service, or (HTTP)
// a service with the same path prefix. Every service must HasDefinition().
NodePlan PlanListeners(std::vector<const ResolvedService*> services);

}  // namespace propsy::translate
