#include "xds/unserved_types.h"

#include <spdlog/spdlog.h>

namespace propsy::xds {

void UnservedTypes::OnRequest(std::string_view node_id, std::string_view type_url) {
  bool first = false;
  {
    absl::MutexLock lock(&mu_);
    auto counted = requests_.find(type_url);
    if (counted == requests_.end()) {
      const size_t named = requests_.size() - (requests_.contains(kOtherTypes) ? 1 : 0);
      const std::string_view key = named < kMaxCountedTypes ? type_url : kOtherTypes;
      counted = requests_.try_emplace(std::string(key), 0).first;
    }
    ++counted->second;
    auto key = std::pair<std::string, std::string>(node_id, type_url);
    if (!logged_.contains(key)) {
      if (logged_.size() >= kMaxLogged) logged_.clear();
      logged_.insert(std::move(key));
      first = true;
    }
  }
  if (first) {
    spdlog::info(
        "xds: node \"{}\" asked for {}, a type ProPsy does not serve: answered as an empty set "
        "(logged once per node and type)",
        node_id, type_url);
  }
}

std::map<std::string, uint64_t> UnservedTypes::RequestsByType() const {
  absl::MutexLock lock(&mu_);
  return {requests_.begin(), requests_.end()};
}

}  // namespace propsy::xds
