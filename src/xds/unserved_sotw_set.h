#pragma once

#include <memory>
#include <string_view>

#include "xds/name_sets.h"
#include "xds/resource.h"

namespace propsy::xds {

// What a state-of-the-world client subscribed to `names` of `type_url`, a
// type ProPsy does not serve, is answered with: the empty set, except for
// the runtime (RTDS). State of the world cannot say that a named resource
// does not exist, so an Envoy waits for each RTDS layer it names until its
// initial_fetch_timeout (15 s by default), holding back its clusters and
// listeners; an empty runtime is itself a resource, so each named layer is
// answered as an empty layer and Envoy goes on at once. (Delta can say it:
// there the names are listed in removed_resources.)
std::shared_ptr<const TypeResources> UnservedSotwSet(std::string_view type_url,
                                                     const NameSet& names);

}  // namespace propsy::xds
