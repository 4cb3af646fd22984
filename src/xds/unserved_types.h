#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace propsy::xds {

// Types clients ask for that ProPsy does not serve (runtime, extension
// configs, ...), which the streams answer as empty sets (SPEC §4). Counts the
// requests per type URL and logs the first request of each node and type, so
// an operator sees what the Envoys expect without a line per request.
//
// Bounded whatever clients send: at most kMaxCountedTypes type URLs are
// counted by name and the rest under kOtherTypes; at most kMaxLogged (node,
// type) pairs are remembered, and when that many are, they are forgotten
// together (logging starts over). Thread-safe.
class UnservedTypes {
 public:
  static constexpr size_t kMaxCountedTypes = 32;
  static constexpr size_t kMaxLogged = 10'000;
  static constexpr std::string_view kOtherTypes = "other";

  // A request of `type_url` (a well-formed type URL) from node `node_id`.
  void OnRequest(std::string_view node_id, std::string_view type_url);

  // Requests since start, by type URL (and kOtherTypes).
  std::map<std::string, uint64_t> RequestsByType() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, uint64_t, std::less<>> requests_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<std::string, std::string>> logged_ ABSL_GUARDED_BY(mu_);
};

}  // namespace propsy::xds
