#pragma once

#include <string>
#include <vector>

#include "model/world.h"
#include "translate/translate.h"

namespace propsy::translate {

// One status condition of a service, as written to its PPS objects.
struct ServiceCondition {
  std::string type;  // "Accepted" or "ResolvedRefs"
  bool status = false;
  std::string reason;  // CamelCase, e.g. "Accepted", "Invalid", "Conflicted"
  std::string message;
};

// What ProPsy makes of one service key across all config clusters.
struct ServiceReport {
  model::ObjectKey key;
  std::string governing_cluster;  // config cluster name; empty if no valid definition
  bool governing_is_local = false;
  // Accepted always; ResolvedRefs when there is a governing definition.
  std::vector<ServiceCondition> conditions;
  // "<config cluster>: ok", "<config cluster>: disabled" or
  // "<config cluster>: <error>", one per config cluster holding the key, in
  // flag order.
  std::vector<std::string> definitions;
};

// Reports every service key, sorted, seen from options.default_zone (nodes
// reporting another zone may see other governing definitions). Two services
// conflict only where their node lists overlap ("*" overlaps everything): a
// service is Conflicted when it loses on some node it targets. Accepted
// reasons: Accepted, Invalid (the governing or the zone's preferred object's
// newest version is invalid; the message says what is served instead),
// Conflicted (names the winner), Disabled (every object is disabled).
// ResolvedRefs reasons: ResolvedRefs, SecretNotFound, InvalidSecret; false
// also for services sharing a listener whose TLS source's secret is unusable
// (the listener is not served).
std::vector<ServiceReport> DescribeServices(const model::World& world,
                                            const TranslateOptions& options);

}  // namespace propsy::translate
