#pragma once

// Independent models of one xDS stream, written from the invariants the
// state machines' headers state (sotw_stream_state.h, delta_stream_state.h),
// for xds_stream_fuzzer. Each model mirrors what a correct server must do as
// seen from outside: which request is an ACK, a NACK or stale, what a
// response may carry, and where the stream must settle once the client
// answers everything. A violation aborts with the check that failed.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "xds/resource.h"
#include "xds/resource_type.h"
#include "xds/snapshot.h"
#include "xds/stream_events.h"

namespace propsy::fuzz {

using xds::ResourceType;

inline bool IsCompleteEachResponse(std::optional<ResourceType> type) {
  return type == ResourceType::kListener || type == ResourceType::kCluster;
}

// What the snapshot has of a type (nothing for a type ProPsy does not serve).
inline const std::map<std::string, xds::ResourcePtr>& Available(const xds::SnapshotPtr& snapshot,
                                                                std::optional<ResourceType> type) {
  return type.has_value() ? snapshot->Of(*type).by_name : xds::TypeResources::Empty()->by_name;
}

// What a stream's types have in common: nonces, one response in flight.
struct TypeModel {
  std::optional<ResourceType> served;
  std::string url;
  int send_position = 0;  // unserved types first, then ResourceType order
  bool requested = false;
  std::string latest_nonce;  // of the last response ("" before any)
  bool in_flight = false;    // that response is unanswered
  bool wildcard = false;     // the subscription as the server applied it
  std::set<std::string> names;
  bool Interested(const std::string& name) const { return wildcard || names.contains(name); }
};

// Checks shared by both protocols when a response of `type` goes out.
inline void CheckResponseBasics(const TypeModel& type, const std::string& nonce,
                                std::set<std::string>& nonces_seen) {
  PROPSY_FUZZ_CHECK(type.requested);
  PROPSY_FUZZ_CHECK(!type.in_flight);  // at most one response per type in flight
  PROPSY_FUZZ_CHECK(!nonce.empty());
  PROPSY_FUZZ_CHECK(nonces_seen.insert(nonce).second);  // every nonce is fresh
}

// True if no type after `type` in send order has a response in flight: the
// condition for a removal on an ordered (ADS) stream.
template <typename Model>
bool LaterTypesIdle(const std::map<std::string, Model>& types, const TypeModel& type) {
  for (const auto& [url, other] : types) {
    if (other.send_position > type.send_position && other.requested && other.in_flight) {
      return false;
    }
  }
  return true;
}

struct SotwTypeModel : TypeModel {
  std::string last_sent_version;                // or the client's own on its first request
  std::string nacked_version;                   // since the last ACK
  std::map<std::string, std::string> believed;  // what the client holds after the last response
  std::vector<std::string> client_names;        // what the client asks for
};

struct DeltaTypeModel : TypeModel {
  std::map<std::string, std::string> believed;  // what the client holds
  std::map<std::string, std::string> rejected;  // name -> NACKed version
  std::set<std::string> answer_anyway;          // the protocol's two MUSTs
  std::set<std::string> told_absent;
  // The in-flight response's resources with what the client held before.
  std::map<std::string, std::optional<std::string>> before_in_flight;
  std::string in_flight_version;
};

}  // namespace propsy::fuzz
