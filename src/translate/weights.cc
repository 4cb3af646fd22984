#include "translate/weights.h"

#include <algorithm>

namespace propsy::translate {

std::vector<WeightedClusterShare> ComputeShares(const ShareInputs& inputs) {
  std::vector<WeightedClusterShare> shares;
  auto add = [&shares](ShareRole role, size_t remote_index, uint32_t weight) {
    if (weight > 0) {
      shares.push_back({.role = role, .remote_index = remote_index, .weight = weight});
    }
  };
  if (!inputs.local_definition) {
    add(ShareRole::kPrimary, 0, 100);
    return shares;
  }
  // Scaling primary and canary by k keeps each remote at (100 - percent)
  // while the primary keeps percent of what stays out of the remotes.
  // Percentages are validated upstream; the clamp only keeps 100 - percent
  // from wrapping if an unvalidated value ever arrives.
  const uint32_t percent = std::min<uint32_t>(inputs.percent, 100);
  const uint32_t canary_percent = std::min<uint32_t>(inputs.canary_percent, 100);
  const auto k = static_cast<uint32_t>(inputs.remote_count);
  const uint32_t scale = k == 0 ? 1 : k;
  add(ShareRole::kPrimary, 0, k == 0 ? 100 : percent * scale);
  for (size_t i = 0; i < inputs.remote_count; ++i) {
    add(ShareRole::kRemote, i, 100 - percent);
  }
  if (inputs.canary_available) {
    add(ShareRole::kCanary, 0, canary_percent * scale);
  }
  return shares;
}

}  // namespace propsy::translate
