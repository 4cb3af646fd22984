#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "model/cluster_objects.h"

namespace propsy::sources {

// What one cluster source holds right now.
struct ClusterState {
  // Never null once reported; the same pointer while nothing changed.
  model::ClusterObjectsPtr objects;
  // What the ProPsyService objects show (status, resourceVersion): may
  // change while `objects` stays the same. Never null once reported.
  model::ShownStatusesPtr statuses;
  // The initial list (or scan) finished; true in every callback of a source
  // that reports only after its initial scan.
  bool synced = false;
  // The source is unreachable now; `objects` is the last known state.
  bool stale = false;
  int64_t stale_since_unix_ms = 0;  // meaningful when stale
  // Current input problems, each naming where it is, e.g.
  // "a.yaml:12: ProPsyService default/web: spec.percent: ...". Empty when
  // every input is fine. Problems never remove objects that were good.
  std::vector<std::string> problems;
};

// What a source did to mirror one collection since start (Kubernetes:
// one per resource, summed over the watched namespaces).
struct CollectionCounters {
  std::string resource;  // "propsyservices", "secrets", "endpointslices", "endpoints"
  uint64_t lists = 0;    // complete LISTs applied, relists included
  uint64_t relists = 0;  // LISTs after the first (410, or nothing to resume from)
  uint64_t watches = 0;  // watch requests started
  uint64_t watch_restarts = 0;
  uint64_t decode_errors = 0;  // malformed lines and objects skipped or kept last-good
};

// Where a cluster's objects come from: a Kubernetes API server or a `dir:`
// tree of manifests. Sources only report; the controller owns what follows.
class ClusterSource {
 public:
  using Callback = std::function<void(ClusterState)>;

  virtual ~ClusterSource() = default;

  // Starts watching. Calls `on_change` from the source's own thread with the
  // full state after the initial scan and after every change; never
  // concurrently. The destructor stops the thread; no calls after it returns.
  virtual absl::Status Start(Callback on_change) = 0;

  // For logs and /debug: "dir:/etc/propsy", "kubeconfig /k/a.yaml", ...
  virtual std::string Describe() const = 0;

  // Running totals for metrics, one entry per collection, in a stable
  // order; empty for sources that have none (dir:). Thread-safe.
  virtual std::vector<CollectionCounters> Counters() const { return {}; }
};

}  // namespace propsy::sources
