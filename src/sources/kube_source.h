#pragma once

#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "kube/http_transport.h"
#include "kube/reflector.h"
#include "model/cluster_objects.h"
#include "sources/cluster_source.h"
#include "sources/endpoints_fallback_log.h"

namespace propsy::sources {

// What a Kubernetes cluster is read for.
enum class KubeSourceRole {
  // -configcluster: ProPsyServices and kubernetes.io/tls Secrets.
  kConfig,
  // -endpointcluster: discovery.k8s.io/v1 EndpointSlices (labelled with
  // kubernetes.io/service-name) and core/v1 Endpoints, the fallback of
  // services without slices (only Endpoints on clusters without the
  // EndpointSlice API; only slices with legacy_endpoints off).
  kEndpoint,
};

struct KubeSourceOptions {
  KubeSourceRole role = KubeSourceRole::kConfig;
  // Watch only these namespaces (one reflector per namespace and
  // collection); empty: cluster-wide.
  std::vector<std::string> namespaces;
  // -legacyendpoints: an endpoint source also watches core/v1 Endpoints on a
  // cluster that serves EndpointSlices.
  bool legacy_endpoints = true;
  // For logs and /debug, e.g. "kubeconfig /k/a.yaml".
  std::string description;
  // The source reports stale once the API server has been unreachable (any
  // reflector failing) for this long.
  std::chrono::milliseconds stale_after{5000};
  // Passed to every reflector (backoff, page size, watch timeouts); the
  // collection, kind and selectors are set per collection.
  kube::ReflectorOptions reflector;
  kube::ReflectorHooks hooks;
};

// The collections one role reads, for a given set of namespaces.
struct KubeCollection {
  std::string path;
  model::ObjectKind kind;
  std::string field_selector;
  std::string label_selector;
};
// The API paths of `role` (for kEndpoint: EndpointSlices when the cluster
// serves them, core/v1 Endpoints when it does not or when
// `legacy_endpoints`).
std::vector<KubeCollection> KubeCollections(KubeSourceRole role,
                                            const std::vector<std::string>& namespaces,
                                            bool endpoint_slices, bool legacy_endpoints);

// A ClusterSource fed by one Kubernetes API server: one Reflector per
// collection (and namespace) into one ObjectStore.
//
// Start-up (on the source's own thread): an endpoint source first asks
// GET /apis/discovery.k8s.io/v1; 404 means the cluster has no EndpointSlice
// API and only core/v1 Endpoints are read (other answers are retried with
// backoff). Then the reflectors start. Where both kinds are read, a service
// uses its Endpoints object only while the cluster has no EndpointSlice for
// it (model::UsesCoreEndpoints), and the log says which services do.
//
// Invariants:
// - The store is written only under `mu_` (several reflector threads feed
//   it) and only with complete lists and single watch events, so a snapshot
//   never shows half a list.
// - The callback runs on the source's notifier thread only, never
//   concurrently, and only when objects, synced, stale or problems changed;
//   bursts coalesce into one call.
// - synced: every reflector completed its initial LIST.
// - stale: some reflector (or the discovery request) has been failing for
//   longer than stale_after; stale_since is when the failing began. It
//   clears when they all recover. Objects are never cleared because the
//   server is unreachable: the last known ones stay.
// - problems: current decode problems of stored objects, recent malformed
//   lines and objects the reflectors skipped, and each failing collection's
//   error.
class KubeSource : public ClusterSource, private kube::ObjectSink {
 public:
  // `transport` may be shared with other sources on the same API server.
  // Staleness, backoff and the reflectors' waits run on `clock`, which must
  // outlive the source.
  KubeSource(std::shared_ptr<kube::HttpTransport> transport, KubeSourceOptions options,
             Clock& clock);
  ~KubeSource() override;
  KubeSource(const KubeSource&) = delete;
  KubeSource& operator=(const KubeSource&) = delete;

  absl::Status Start(Callback on_change) override;
  std::string Describe() const override;
  // Per resource, summed over the reflectors of its namespaces.
  std::vector<CollectionCounters> Counters() const override;

  // Every reflector's counters (empty before the reflectors start).
  std::vector<kube::ReflectorStats> Stats() const;

 private:
  // kube::ObjectSink, called from reflector threads.
  std::vector<absl::Status> Apply(const kube::ObjectBatch& batch) override;
  void StateChanged() override;

  void Run();
  // Decides between EndpointSlices and Endpoints; nullopt when stopped.
  std::optional<bool> DiscoverEndpointSlices();
  void StartReflectors(bool endpoint_slices);
  // Builds the current state; `next_check` is set when staleness will flip
  // without any event (the outage threshold passing).
  ClusterState BuildState(std::optional<std::chrono::system_clock::time_point>* next_check);
  // Calls back with the current state if it differs from the last one sent;
  // returns when staleness is due to be looked at again, if ever.
  std::optional<std::chrono::system_clock::time_point> Report();
  // Waits until something changed, `deadline` passed, or stop; false on
  // stop.
  bool WaitForChange(Clock::TimePoint deadline);
  // When a wall-clock moment comes on the clock's monotonic time.
  Clock::TimePoint MonotonicAt(std::chrono::system_clock::time_point wall) const;
  int64_t Random(int64_t lo, int64_t hi);

  const std::shared_ptr<kube::HttpTransport> transport_;
  const KubeSourceOptions options_;
  Clock& clock_;
  Callback on_change_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};

  // Owned by the notifier thread.
  std::mt19937_64 rng_;
  bool reported_ = false;
  ClusterState last_reported_;
  EndpointsFallbackLog fallback_log_;

  // Released by every wait of the notifier thread, which wakes when dirty_
  // or stopping_ changes under it.
  mutable absl::Mutex mu_;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  model::ObjectStore store_ ABSL_GUARDED_BY(mu_);
  // Decode problem of each stored object that has one, by kind and key.
  std::map<std::pair<model::ObjectKind, model::ObjectKey>, std::string> object_problems_
      ABSL_GUARDED_BY(mu_);
  // Written by the notifier thread only before the reflectors start, read
  // under `mu_`.
  std::vector<std::unique_ptr<kube::Reflector>> reflectors_ ABSL_GUARDED_BY(mu_);
  // The discovery request failing (before the reflectors exist).
  std::optional<std::chrono::system_clock::time_point> discovery_failing_since_
      ABSL_GUARDED_BY(mu_);
  std::string discovery_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace propsy::sources
