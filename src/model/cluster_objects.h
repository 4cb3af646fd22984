#pragma once

#include <rapidjson/document.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "model/endpoints.h"
#include "model/object_meta.h"
#include "model/propsy_service.h"
#include "model/tls_secret.h"

namespace propsy::model {

enum class ObjectKind { kProPsyService, kEndpointSlice, kEndpoints, kSecret };
const char* ObjectKindName(ObjectKind kind);

// One object as last seen, with the newest version that decoded cleanly.
// When an update turns an object invalid, `last_good` keeps the previous
// valid version (it keeps being served) and `error` says what is wrong with
// the newest one. A brand-new invalid object has no `last_good`.
template <typename T>
struct Entry {
  std::optional<T> last_good;
  ObjectMeta latest_meta;  // of the newest version seen, valid or not
  absl::Status error;      // ok iff the newest version is `last_good`
};

// Every endpoint object of one service in one cluster, by object name.
struct ServiceEndpoints {
  std::map<std::string, Entry<EndpointSlice>> slices;
  // core/v1 Endpoints (one object per service; several slices per object).
  // Used only when `slices` has no valid slice.
  std::optional<Entry<std::vector<EndpointSlice>>> core_endpoints;
};

// An immutable snapshot of everything one cluster source holds. Copies share
// the per-service endpoint sets.
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
  // ProPsy does not use are ignored (ok). Returns the decode error, if any,
  // for the caller to log; the error is also kept in the entry.
  absl::Status Upsert(const rapidjson::Value& object);
  void Delete(ObjectKind kind, const ObjectKey& key);
  // Drops every object of `kind` not in `keep` (after a relist or rescan).
  void RetainOnly(ObjectKind kind, const std::vector<ObjectKey>& keep);

  // The current contents; the same pointer until something changes.
  ClusterObjectsPtr Snapshot();

 private:
  ClusterObjects objects_;
  // Slice key -> owning service key, so a slice that moves or is deleted is
  // found without its body.
  std::map<ObjectKey, ObjectKey> slice_owner_;
  ClusterObjectsPtr snapshot_;
};

}  // namespace propsy::model
