#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/object_meta.h"

namespace propsy::model {

// One status condition in the shape of Kubernetes' metav1.Condition.
struct Condition {
  std::string type;    // "Accepted", "ResolvedRefs", "Programmed"
  std::string status;  // "True", "False" or "Unknown"
  std::string reason;  // CamelCase
  std::string message;
  int64_t observed_generation = 0;
  std::string last_transition_time;  // RFC 3339, UTC, whole seconds

  bool operator==(const Condition&) const = default;
};

// The `status` of a ProPsyService object as the API server holds it (what
// the status writer last wrote, or what someone else put there).
struct ServiceStatus {
  int64_t observed_generation = 0;
  std::vector<Condition> conditions;

  bool operator==(const ServiceStatus&) const = default;
};

// What the API server shows of one ProPsyService object besides its
// configuration: the status and the resourceVersion it was read at (the
// precondition of the next status write). Both change with every status
// write, so they are kept apart from the objects translation reads.
struct ShownStatus {
  std::string resource_version;
  ServiceStatus status;

  bool operator==(const ShownStatus&) const = default;
};

// Per ProPsyService object of one cluster (keys as in
// ClusterObjects::services), immutable once shared.
using ShownStatuses = std::map<ObjectKey, ShownStatus>;
using ShownStatusesPtr = std::shared_ptr<const ShownStatuses>;

// Reads `object.status`. Lenient on purpose: status is ProPsy's own output,
// not input it acts on, so parts it cannot read are left out (an unreadable
// condition is dropped, a missing status is empty) and the writer simply
// writes the status it wants.
ServiceStatus DecodeServiceStatus(const rapidjson::Value& object);

// Reads `object.metadata.resourceVersion` and `object.status`, as leniently.
ShownStatus DecodeShownStatus(const rapidjson::Value& object);

}  // namespace propsy::model
