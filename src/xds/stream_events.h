#pragma once

#include <optional>
#include <string>
#include <vector>

#include "xds/resource.h"
#include "xds/resource_type.h"

namespace propsy::xds {

// What a client's request meant, as the stream state machines read it.
struct RequestEvent {
  enum class Kind {
    kRequest,     // first request of a type, or a subscription change
    kAck,         // accepted the response named by its nonce
    kNack,        // rejected it; `error` says why
    kStaleNonce,  // answered an older response: ignored (state of the world)
  };
  // The type asked for: nullopt for a type ProPsy does not serve, answered
  // as empty and named by `unserved_type_url` (empty otherwise).
  std::optional<ResourceType> type;
  std::string unserved_type_url;
  Kind kind = Kind::kRequest;
  std::string version;  // version acked or nacked
  std::string error;    // error_detail.message of a NACK
  // The first request of a type on a stream: what a reconnecting client says
  // it holds, which is then not sent again. SotW: the set's version_info;
  // delta: initial_resource_versions (name and version, no body).
  std::string claimed_set_version;
  std::vector<ResourcePtr> claimed_resources;
};

// What was just put on the wire, for status tracking (CSDS, /debug, metrics).
struct SentSummary {
  std::optional<ResourceType> type;  // nullopt: an empty answer for a type ProPsy does not serve
  std::string unserved_type_url;
  std::string version;  // SotW: version of the set; delta: system version
  std::string nonce;
  std::vector<ResourcePtr> resources;      // added or updated: what the response carries
  std::vector<std::string> removed_names;  // no longer held by the client
};

}  // namespace propsy::xds
