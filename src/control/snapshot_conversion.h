#pragma once

#include "absl/status/statusor.h"
#include "translate/translate.h"
#include "xds/resource.h"
#include "xds/snapshot.h"

namespace propsy::control {

// Wraps translated resources as an xDS snapshot, interning every resource so
// nodes that get identical resources share one serialized copy. Fails if the
// snapshot is not self-consistent (a listener naming a missing route
// configuration, a cluster without its load assignment): such a snapshot is
// never served.
absl::StatusOr<xds::SnapshotPtr> ToSnapshot(const translate::NodeResources& resources,
                                            xds::ResourceInterner& interner);

}  // namespace propsy::control
