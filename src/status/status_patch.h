#pragma once

// The JSON a status write sends (a merge patch of the status subresource)
// and reads back (the object after a conflict). Pure.

#include <cstdint>
#include <optional>
#include <string>

#include "model/object_meta.h"
#include "model/service_status.h"

namespace propsy::status {

// "/apis/propsy.seznam.cz/v1/namespaces/NS/propsyservices/NAME/status".
std::string StatusPath(const model::ObjectKey& key);

// A JSON merge patch that replaces the status, with the resourceVersion as
// precondition (a changed object answers 409).
std::string PatchBody(const model::ServiceStatus& status, const std::string& resource_version);

// The parts of an object read back after a conflict.
struct ObjectRead {
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  model::ServiceStatus status;
};

// Null when `body` is not an object with metadata.
std::optional<ObjectRead> ParseObject(const std::string& body);

}  // namespace propsy::status
