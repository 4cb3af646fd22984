#pragma once

#include <rapidjson/document.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "model/endpoints.h"
#include "model/object_meta.h"
#include "model/propsy_service.h"
#include "model/service_status.h"
#include "model/tls_secret.h"

namespace propsy::model {

enum class ObjectKind { kProPsyService, kEndpointSlice, kEndpoints, kSecret };
const char* ObjectKindName(ObjectKind kind);
// The kind of an object by its apiVersion and kind, or nullopt for kinds
// ProPsy does not use.
std::optional<ObjectKind> ObjectKindOf(std::string_view api_version, std::string_view kind);

// One object as last seen, with the newest version that decoded cleanly.
// When an update turns an object invalid, `last_good` keeps the previous
// valid version (it keeps being served) and `error` says what is wrong with
// the newest one. A brand-new invalid object has no `last_good`.
template <typename T>
struct Entry {
  std::optional<T> last_good;
  ObjectMeta latest_meta;  // of the newest version seen, valid or not
  absl::Status error;      // ok iff the newest version is `last_good`
  bool operator==(const Entry&) const = default;
};

// Every endpoint object of one service in one cluster, by object name.
struct ServiceEndpoints {
  std::map<std::string, Entry<EndpointSlice>> slices;
  // core/v1 Endpoints (one object per service; several slices per object).
  // Used only when `slices` has no valid slice.
  std::optional<Entry<std::vector<EndpointSlice>>> core_endpoints;
};

// Whether a service's endpoints in a cluster come from its core/v1
// Endpoints object: the cluster has no valid EndpointSlice for it and a
// valid Endpoints object (SPEC §3: the fallback is per service and cluster).
bool UsesCoreEndpoints(const ServiceEndpoints& endpoints);

// An immutable snapshot of the configuration one cluster source holds: what
// translation reads. Copies share the per-service endpoint sets.
//
// A ProPsyService's status and resourceVersion are not in it (its entries'
// `meta.resource_version` and `latest_meta.resource_version` are empty):
// they change with every status write, which changes no configuration, so
// they live in the store's ShownStatuses. A status-only change therefore
// leaves this snapshot, and everything translated from it, as it was.
struct ClusterObjects {
  std::map<ObjectKey, Entry<ProPsyService>> services;
  std::map<ObjectKey, Entry<TlsSecret>> secrets;  // only kubernetes.io/tls ones decode
  // Keyed by the owning service (namespace + kubernetes.io/service-name).
  std::map<ObjectKey, std::shared_ptr<const ServiceEndpoints>> endpoints;
};
using ClusterObjectsPtr = std::shared_ptr<const ClusterObjects>;

// Turns raw objects (JSON trees as the API server or a manifest gives them)
// into ClusterObjects, applying the keep-last-good rule. Not thread-safe: one
// source owns one store.
class ObjectStore {
 public:
  ObjectStore();

  // Decodes `object` by its apiVersion/kind and records it. Objects of kinds
  // ProPsy does not use are ignored (ok), and so are Secrets that are not of
  // type kubernetes.io/tls (one that was stored is dropped). Returns the
  // decode error, if any, for the caller to log; the error is also kept in
  // the entry (with `latest_meta` read as far as it goes). An object whose
  // namespace/name cannot be read at all is not stored; nor is an invalid
  // EndpointSlice that cannot be attributed to a service. An object without
  // apiVersion/kind is an error.
  //
  // An EndpointSlice whose service label changes moves to its new service;
  // an invalid update of a slice stays with the service of its last good
  // version. Re-upserting an equal object changes nothing (the snapshot
  // pointer stays), so relists and rescans are cheap downstream.
  absl::Status Upsert(const rapidjson::Value& object);
  // Same, for a source that knows the kind (list items of built-in kinds come
  // without apiVersion/kind).
  absl::Status Upsert(ObjectKind kind, const rapidjson::Value& object);
  void Delete(ObjectKind kind, const ObjectKey& key);
  // Drops every object of `kind` not in `keep` (after a relist or rescan).
  // For kEndpoints the keys are those of the Endpoints objects (= services).
  void RetainOnly(ObjectKind kind, const std::vector<ObjectKey>& keep);

  // The current configuration; the same pointer until it changes.
  ClusterObjectsPtr Snapshot();
  // The status and resourceVersion each ProPsyService object shows (an
  // object without status has an empty one); the same pointer until one
  // changes. Changes independently of Snapshot().
  ShownStatusesPtr Statuses();

 private:
  absl::Status UpsertSlice(const rapidjson::Value& object, bool* changed);
  absl::Status UpsertCoreEndpoints(const rapidjson::Value& object, bool* changed);
  // Stores `entry` as slice `slice` of `service`, moving it from another
  // service that held it.
  void PutSlice(const ObjectKey& service, const ObjectKey& slice, Entry<EndpointSlice> entry,
                bool* changed);
  const Entry<EndpointSlice>* FindSlice(const ObjectKey& service, const ObjectKey& slice) const;
  // Edits a private copy of the service's endpoint set and stores it (drops
  // it when left empty); snapshots already handed out are not touched.
  void EditEndpoints(const ObjectKey& service, const std::function<void(ServiceEndpoints&)>& edit);

  ClusterObjects objects_;
  // Slice key -> owning service key, so a slice that moves or is deleted is
  // found without its body.
  std::map<ObjectKey, ObjectKey> slice_owner_;
  ClusterObjectsPtr snapshot_;  // null when objects_ changed since the last Snapshot()
  ShownStatuses statuses_;
  ShownStatusesPtr statuses_snapshot_;  // null when statuses_ changed since the last Statuses()
};

}  // namespace propsy::model
