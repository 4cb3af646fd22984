#pragma once

#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace propsy::xds {

using NameSet = std::set<std::string>;
using SharedNameSet = std::shared_ptr<const NameSet>;

// Shares equal sets of subscribed resource names between streams: Envoys
// that get the same services subscribe to the same hundreds of load
// assignments, and a thousand copies of those names would cost tens of
// megabytes. Thread-safe.
class NameSetInterner {
 public:
  // The shared set equal to `names`.
  SharedNameSet Intern(NameSet names);

 private:
  absl::Mutex mu_;
  // By hash of the names; entries expire with the last stream using them.
  std::unordered_multimap<size_t, std::weak_ptr<const NameSet>> sets_ ABSL_GUARDED_BY(mu_);
  size_t inserts_since_sweep_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace propsy::xds
