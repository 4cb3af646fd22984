#include "status/fleet_progress.h"

#include <fmt/format.h>

#include <algorithm>

namespace propsy::status {

PeerStanding Standing(const PeerReport& peer, Clock::TimePoint now, Clock::Duration stale_after) {
  if (peer.behind_since) {
    return now < std::max(peer.changed_at, *peer.behind_since) + stale_after
               ? PeerStanding::kCatchingUp
               : PeerStanding::kStale;
  }
  if (!peer.report.HoldsBack()) return PeerStanding::kCurrent;
  return now < peer.changed_at + stale_after ? PeerStanding::kHoldingBack : PeerStanding::kStale;
}

ObjectProgress CombineProgress(const model::ObjectKey& key, const ObjectProgress& own,
                               const std::vector<PeerReport>& peers, Clock::TimePoint now,
                               Clock::Duration stale_after) {
  ObjectProgress combined = own;
  for (const PeerReport& peer : peers) {
    const PeerStanding standing = Standing(peer, now, stale_after);
    if (standing == PeerStanding::kStale) continue;
    auto found = peer.report.objects.find(key);
    const bool reports_generation =
        found != peer.report.objects.end() && found->second.generation == own.generation;
    if (!reports_generation) {
      // With equal generations it targets none of the peer's nodes.
      if (standing == PeerStanding::kCatchingUp) {
        combined.unreported.push_back("replica " + peer.report.replica);
      }
      continue;
    }
    const ObjectProgress& theirs = found->second;
    combined.acknowledged += theirs.acknowledged;
    combined.targeted += theirs.targeted;
    if (combined.rejection.empty() && !theirs.rejection.empty()) {
      combined.rejection = fmt::format("{} (on replica {})", theirs.rejection, peer.report.replica);
    }
  }
  return combined;
}

}  // namespace propsy::status
