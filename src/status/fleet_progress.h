#pragma once

// Programmed across replicas: the leader combines its own nodes' progress
// with the other replicas' reports (progress_report.h), and decides which
// reports to believe. Pure, on times of the reader's own clock (no trust in
// other machines' clocks, as in leader election).

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "status/desired_status.h"
#include "status/progress_report.h"

namespace propsy::status {

// Another replica's report as this replica (the leader) last read it.
struct PeerReport {
  std::string name;  // of the report object
  ProgressReport report;
  // When its content last changed (or was first read), on the reader's clock.
  Clock::TimePoint changed_at;
  // Since when its generations digest differs from the reader's own (unset
  // while equal), on the reader's clock.
  std::optional<Clock::TimePoint> behind_since;
};

// How a peer's report counts now.
enum class PeerStanding {
  kCurrent,      // equal generations: believed as it is
  kCatchingUp,   // other generations, changed within stale_after of falling behind
  kHoldingBack,  // equal generations, something incomplete, renewed within stale_after
  kStale,        // neither: the replica is gone (or cut off) and counts for nothing
};

// A peer's standing at `now`. A live replica renews a report that holds
// something back at least every renew interval (< stale_after), and
// rewrites it within moments of a change of generations; one that does
// neither within stale_after is taken as gone, so a SIGKILLed replica does
// not hold Programmed at Pending (or Rejected) for ever. A complete report
// whose generations are the reader's is believed however old: it holds
// nothing back.
PeerStanding Standing(const PeerReport& peer, Clock::TimePoint now, Clock::Duration stale_after);

// The progress of one object at `own.generation` over this replica's nodes
// (`own`) and its peers': counts summed over the peers that report this
// generation; the first rejection (own first, then the peers' in order,
// each naming its replica); a peer that has not caught up and is not stale
// is listed in `unreported`. A stale peer counts for nothing. A peer
// reporting another generation of the object counts as not caught up.
ObjectProgress CombineProgress(const model::ObjectKey& key, const ObjectProgress& own,
                               const std::vector<PeerReport>& peers, Clock::TimePoint now,
                               Clock::Duration stale_after);

}  // namespace propsy::status
