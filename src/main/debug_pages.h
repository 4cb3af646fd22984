#pragma once

#include <string>
#include <vector>

#include "control/controller.h"
#include "model/world.h"
#include "status/status_writer.h"
#include "translate/service_status.h"
#include "translate/translate.h"
#include "xds/node_status.h"
#include "xds/snapshot.h"

namespace propsy {

// JSON bodies of the admin /debug pages. Each is a pure rendering of state
// owned elsewhere.

// /debug/config_dump?node=ID: the node's resources per type with versions.
std::string ConfigDumpJson(const std::string& node_id, const xds::SnapshotPtr& snapshot);

// /debug/nodes: every connected stream (CSDS view: per resource ACKED,
// NACKED with the error, or sent and unanswered) plus totals.
std::string NodesJson(const xds::NodeStatusRegistry& registry);

// /debug/services: each service with its governing definition and conditions.
std::string ServicesJson(const std::vector<translate::ServiceReport>& services);

// /debug/clusters: each source, synced or stale (since when), object counts
// and current input problems.
std::string ClustersJson(const std::vector<control::Controller::ClusterStatus>& clusters);

// /debug/status: per config cluster, whether this replica writes status
// (leads), and its writes, conflicts, errors, Events and queued objects.
std::string StatusJson(const status::StatusWriter& writer);

}  // namespace propsy
