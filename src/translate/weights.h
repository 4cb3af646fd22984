#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace propsy::translate {

// Which Envoy cluster of a service a share of traffic goes to.
enum class ShareRole { kPrimary, kRemote, kCanary };

// One weighted cluster of a service's route (HTTP) or TCP proxy. Weights are
// relative: Envoy divides each by the sum of all of them.
struct WeightedClusterShare {
  ShareRole role = ShareRole::kPrimary;
  size_t remote_index = 0;  // kRemote only: index among the remote clusters
  uint32_t weight = 0;      // always > 0 in ComputeShares' result
  auto operator<=>(const WeightedClusterShare&) const = default;
};

// What the weights of one service depend on.
struct ShareInputs {
  // The governing definition comes from a config cluster of the node's zone;
  // without one, percent and canary have no effect (SPEC §3).
  bool local_definition = false;
  uint32_t percent = 0;           // 0..100
  uint32_t canary_percent = 0;    // 0..100
  size_t remote_count = 0;        // k: remote endpoint clusters with endpoints
  bool canary_available = false;  // canaryService set and has local endpoints
};

// The weighted clusters of a service, in route order: primary, remotes by
// index, canary. Shares of weight 0 are left out (their Envoy clusters are
// not generated either). With a local definition and k >= 1: primary
// percent*k, each remote 100-percent, canary canaryPercent*k; k = 0: primary
// 100, canary canaryPercent. Without a local definition: primary 100 alone.
std::vector<WeightedClusterShare> ComputeShares(const ShareInputs& inputs);

}  // namespace propsy::translate
