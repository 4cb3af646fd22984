#include "xds/name_sets.h"

#include <functional>
#include <iterator>

namespace propsy::xds {

SharedNameSet NameSetInterner::Intern(NameSet names) {
  size_t hash = names.size();
  for (const std::string& name : names) {
    hash = hash * 31 + std::hash<std::string>()(name);
  }
  absl::MutexLock lock(&mu_);
  auto [first, last] = sets_.equal_range(hash);
  for (auto it = first; it != last; ++it) {
    if (SharedNameSet set = it->second.lock(); set != nullptr && *set == names) return set;
  }
  // Expired entries are swept now and then, in proportion to inserts.
  if (++inserts_since_sweep_ > sets_.size()) {
    std::erase_if(sets_, [](const auto& entry) { return entry.second.expired(); });
    inserts_since_sweep_ = 0;
  }
  auto set = std::make_shared<const NameSet>(std::move(names));
  sets_.emplace(hash, set);
  return set;
}

}  // namespace propsy::xds
