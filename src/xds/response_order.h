#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "xds/resource.h"

namespace propsy::xds {

// The two walks both protocol state machines (SotW and delta) share: which
// type answers next on a stream, and which held resources are gone.

// Picks the type whose response goes out next on one stream.
//
// The stream's types are numbered 0..count-1 in send order; `at(position)`
// gives each one's state, which has `requested` (the client asked for the
// type) and `awaiting_ack` (a response of it is unanswered). `plan(state,
// hold_removals)` returns what that type would send now, nullopt when
// nothing.
//
// Types are visited last to first. On an ordered stream (ADS) a type holds
// its removals back while any later type has something to send or awaits an
// answer, so additions go out in send order and removals in reverse (make
// before break). Of the types with something to send and no response in
// flight, the first in send order is returned with its plan: at most one
// response per type is in flight.
template <typename At, typename PlanFn>
auto PickNextResponse(size_t count, bool ordered, At at, PlanFn plan) {
  using State = std::remove_reference_t<decltype(at(size_t{0}))>;
  using Plan = typename std::invoke_result_t<PlanFn, State&, bool>::value_type;
  std::optional<std::pair<State*, Plan>> next;
  bool later_busy = false;
  for (size_t position = count; position-- > 0;) {
    State& state = at(position);
    if (!state.requested) continue;
    std::optional<Plan> due = plan(state, ordered && later_busy);
    later_busy = later_busy || state.awaiting_ack || due.has_value();
    if (due.has_value() && !state.awaiting_ack) next.emplace(&state, std::move(*due));
  }
  return next;
}

inline const std::string& NameOfHeld(const std::pair<const std::string, ResourcePtr>& entry) {
  return entry.first;
}
inline const std::string& NameOfHeld(const ResourcePtr& resource) { return resource->name; }

// Calls `gone(entry)` for every entry of `held` (a sorted map of name to
// resource, or a sorted range of resources) whose name `current` lacks. Both
// are sorted by name, so this is one merge pass.
template <typename Held, typename Gone>
void ForEachGone(const Held& held, const std::map<std::string, ResourcePtr>& current, Gone gone) {
  auto present = current.begin();
  for (const auto& entry : held) {
    const std::string& name = NameOfHeld(entry);
    while (present != current.end() && present->first < name) ++present;
    if (present != current.end() && present->first == name) continue;
    gone(entry);
  }
}

}  // namespace propsy::xds
