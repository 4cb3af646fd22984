#include "model/cluster_objects.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "model/json_fields.h"

namespace propsy::model {
namespace {

constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
constexpr char kTlsSecretType[] = "kubernetes.io/tls";

// The metadata of an object that may fail to decode, as far as it can be
// read; nullopt when not even namespace/name can.
std::optional<ObjectMeta> BestEffortMeta(const rapidjson::Value& object) {
  std::optional<ObjectKey> key = ReadObjectKey(object);
  if (!key.has_value()) return std::nullopt;
  ValidationErrors ignored;
  ObjectMeta meta = DecodeObjectMeta(object, &ignored);
  meta.key = std::move(*key);
  return meta;
}

// Replaces `slot` with `next` unless they are equal; returns whether it did.
template <typename T>
bool Assign(T& slot, T next) {
  if (slot == next) return false;
  slot = std::move(next);
  return true;
}

// Whether an entry keeps the object's resourceVersion (ProPsyServices keep
// theirs in ShownStatuses: cluster_objects.h).
enum class ResourceVersion { kKeep, kLeaveOut };

// Records a decode result for a service or secret.
template <typename T>
absl::Status UpsertEntry(std::map<ObjectKey, Entry<T>>& entries, absl::StatusOr<T> decoded,
                         const rapidjson::Value& object, ResourceVersion resource_version,
                         bool* changed) {
  if (decoded.ok()) {
    if (resource_version == ResourceVersion::kLeaveOut) decoded->meta.resource_version.clear();
    const ObjectKey key = decoded->meta.key;
    ObjectMeta meta = decoded->meta;
    Entry<T> next{.last_good = *std::move(decoded), .latest_meta = std::move(meta), .error = {}};
    *changed |= Assign(entries[key], std::move(next));
    return absl::OkStatus();
  }
  std::optional<ObjectMeta> meta = BestEffortMeta(object);
  if (!meta.has_value()) return decoded.status();
  if (resource_version == ResourceVersion::kLeaveOut) meta->resource_version.clear();
  Entry<T>& slot = entries[meta->key];
  Entry<T> next{.last_good = slot.last_good, .latest_meta = *meta, .error = decoded.status()};
  *changed |= Assign(slot, std::move(next));
  return decoded.status();
}

bool IsTlsSecret(const rapidjson::Value& object) {
  const rapidjson::Value* type = FindField(object, "type");
  return type != nullptr && type->IsString() && StringOf(*type) == kTlsSecretType;
}

}  // namespace

const char* ObjectKindName(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kProPsyService:
      return "ProPsyService";
    case ObjectKind::kEndpointSlice:
      return "EndpointSlice";
    case ObjectKind::kEndpoints:
      return "Endpoints";
    case ObjectKind::kSecret:
      return "Secret";
  }
  return "unknown";
}

std::optional<ObjectKind> ObjectKindOf(std::string_view api_version, std::string_view kind) {
  if (api_version == kProPsyApiVersion && kind == kProPsyKind) return ObjectKind::kProPsyService;
  if (api_version == "discovery.k8s.io/v1" && kind == "EndpointSlice") {
    return ObjectKind::kEndpointSlice;
  }
  if (api_version == "v1" && kind == "Endpoints") return ObjectKind::kEndpoints;
  if (api_version == "v1" && kind == "Secret") return ObjectKind::kSecret;
  return std::nullopt;
}

ObjectStore::ObjectStore() = default;

absl::Status ObjectStore::Upsert(const rapidjson::Value& object) {
  if (!object.IsObject()) {
    return absl::InvalidArgumentError(
        fmt::format("an object must be a JSON object, got {}", DescribeValue(object)));
  }
  const rapidjson::Value* api_version = FindField(object, "apiVersion");
  const rapidjson::Value* kind = FindField(object, "kind");
  if (api_version == nullptr || kind == nullptr || !api_version->IsString() || !kind->IsString()) {
    return absl::InvalidArgumentError("apiVersion and kind: missing (strings required)");
  }
  const std::optional<ObjectKind> known = ObjectKindOf(StringOf(*api_version), StringOf(*kind));
  if (!known.has_value()) return absl::OkStatus();
  return Upsert(*known, object);
}

absl::Status ObjectStore::Upsert(ObjectKind kind, const rapidjson::Value& object) {
  bool changed = false;
  absl::Status status;
  switch (kind) {
    case ObjectKind::kProPsyService:
      status = UpsertEntry(objects_.services, DecodeProPsyService(object), object,
                           ResourceVersion::kLeaveOut, &changed);
      if (std::optional<ObjectKey> key = ReadObjectKey(object);
          key && objects_.services.contains(*key) &&
          Assign(statuses_[*key], DecodeShownStatus(object))) {
        statuses_snapshot_.reset();
      }
      break;
    case ObjectKind::kSecret:
      if (IsTlsSecret(object)) {
        status = UpsertEntry(objects_.secrets, DecodeTlsSecret(object), object,
                             ResourceVersion::kKeep, &changed);
      } else if (std::optional<ObjectKey> key = ReadObjectKey(object)) {
        // Not (or no longer) a TLS secret: nothing ProPsy could use.
        changed = objects_.secrets.erase(*key) > 0;
      }
      break;
    case ObjectKind::kEndpointSlice:
      status = UpsertSlice(object, &changed);
      break;
    case ObjectKind::kEndpoints:
      status = UpsertCoreEndpoints(object, &changed);
      break;
  }
  if (changed) snapshot_.reset();
  return status;
}

bool UsesCoreEndpoints(const ServiceEndpoints& endpoints) {
  const bool any_slice =
      std::any_of(endpoints.slices.begin(), endpoints.slices.end(),
                  [](const auto& slice) { return slice.second.last_good.has_value(); });
  return !any_slice && endpoints.core_endpoints.has_value() &&
         endpoints.core_endpoints->last_good.has_value();
}

void ObjectStore::EditEndpoints(const ObjectKey& service,
                                const std::function<void(ServiceEndpoints&)>& edit) {
  auto it = objects_.endpoints.find(service);
  // Copy on write: snapshots handed out keep the old set.
  auto copy = it == objects_.endpoints.end() ? std::make_shared<ServiceEndpoints>()
                                             : std::make_shared<ServiceEndpoints>(*it->second);
  edit(*copy);
  if (copy->slices.empty() && !copy->core_endpoints.has_value()) {
    if (it != objects_.endpoints.end()) objects_.endpoints.erase(it);
  } else {
    objects_.endpoints[service] = std::move(copy);
  }
}

const Entry<EndpointSlice>* ObjectStore::FindSlice(const ObjectKey& service,
                                                   const ObjectKey& slice) const {
  const auto it = objects_.endpoints.find(service);
  if (it == objects_.endpoints.end()) return nullptr;
  const auto found = it->second->slices.find(slice.name);
  return found == it->second->slices.end() ? nullptr : &found->second;
}

void ObjectStore::PutSlice(const ObjectKey& service, const ObjectKey& slice,
                           Entry<EndpointSlice> entry, bool* changed) {
  const auto owner = slice_owner_.find(slice);
  if (owner != slice_owner_.end() && owner->second != service) {
    // The slice moved to another service.
    EditEndpoints(owner->second,
                  [&](ServiceEndpoints& endpoints) { endpoints.slices.erase(slice.name); });
    *changed = true;
  }
  slice_owner_[slice] = service;
  const Entry<EndpointSlice>* current = FindSlice(service, slice);
  if (current != nullptr && *current == entry) return;
  EditEndpoints(service, [&](ServiceEndpoints& endpoints) {
    endpoints.slices[slice.name] = std::move(entry);
  });
  *changed = true;
}

absl::Status ObjectStore::UpsertSlice(const rapidjson::Value& object, bool* changed) {
  absl::StatusOr<EndpointSlice> decoded = DecodeEndpointSlice(object);
  if (decoded.ok()) {
    const ObjectKey slice = decoded->meta.key;
    const ObjectKey service = decoded->ServiceKey();
    ObjectMeta meta = decoded->meta;
    PutSlice(service, slice,
             {.last_good = *std::move(decoded), .latest_meta = std::move(meta), .error = {}},
             changed);
    return absl::OkStatus();
  }
  std::optional<ObjectMeta> meta = BestEffortMeta(object);
  if (!meta.has_value()) return decoded.status();
  // An invalid update stays where its last good version is served.
  ObjectKey service;
  if (const auto owner = slice_owner_.find(meta->key); owner != slice_owner_.end()) {
    service = owner->second;
  } else if (const auto label = meta->labels.find(kServiceNameLabel);
             label != meta->labels.end() && !label->second.empty()) {
    service = {meta->key.namespace_name, label->second};
  } else {
    return decoded.status();
  }
  const Entry<EndpointSlice>* current = FindSlice(service, meta->key);
  Entry<EndpointSlice> next{.last_good = current == nullptr ? std::nullopt : current->last_good,
                            .latest_meta = *meta,
                            .error = decoded.status()};
  const ObjectKey slice = meta->key;
  PutSlice(service, slice, std::move(next), changed);
  return decoded.status();
}

absl::Status ObjectStore::UpsertCoreEndpoints(const rapidjson::Value& object, bool* changed) {
  absl::StatusOr<std::vector<EndpointSlice>> decoded = DecodeCoreEndpoints(object);
  std::optional<ObjectMeta> meta = BestEffortMeta(object);
  if (!meta.has_value()) {
    // Cannot happen for a decoded object (it has a name), but keep it total.
    return decoded.ok() ? absl::InvalidArgumentError("metadata.name: missing") : decoded.status();
  }
  const ObjectKey service = meta->key;
  const auto it = objects_.endpoints.find(service);
  const Entry<std::vector<EndpointSlice>>* current =
      it == objects_.endpoints.end() || !it->second->core_endpoints.has_value()
          ? nullptr
          : &*it->second->core_endpoints;
  Entry<std::vector<EndpointSlice>> next;
  next.latest_meta = *std::move(meta);
  if (decoded.ok()) {
    next.last_good = *std::move(decoded);
  } else {
    next.error = decoded.status();
    if (current != nullptr) next.last_good = current->last_good;
  }
  if (current == nullptr || !(*current == next)) {
    EditEndpoints(service,
                  [&](ServiceEndpoints& endpoints) { endpoints.core_endpoints = std::move(next); });
    *changed = true;
  }
  return decoded.status();
}

void ObjectStore::Delete(ObjectKind kind, const ObjectKey& key) {
  bool changed = false;
  switch (kind) {
    case ObjectKind::kProPsyService:
      changed = objects_.services.erase(key) > 0;
      if (statuses_.erase(key) > 0) statuses_snapshot_.reset();
      break;
    case ObjectKind::kSecret:
      changed = objects_.secrets.erase(key) > 0;
      break;
    case ObjectKind::kEndpointSlice:
      if (const auto owner = slice_owner_.find(key); owner != slice_owner_.end()) {
        EditEndpoints(owner->second,
                      [&](ServiceEndpoints& endpoints) { endpoints.slices.erase(key.name); });
        slice_owner_.erase(owner);
        changed = true;
      }
      break;
    case ObjectKind::kEndpoints:
      if (const auto it = objects_.endpoints.find(key);
          it != objects_.endpoints.end() && it->second->core_endpoints.has_value()) {
        EditEndpoints(key, [](ServiceEndpoints& endpoints) { endpoints.core_endpoints.reset(); });
        changed = true;
      }
      break;
  }
  if (changed) snapshot_.reset();
}

void ObjectStore::RetainOnly(ObjectKind kind, const std::vector<ObjectKey>& keep) {
  const std::set<ObjectKey> kept(keep.begin(), keep.end());
  std::vector<ObjectKey> doomed;
  auto collect = [&](const auto& map) {
    for (const auto& [key, value] : map) {
      if (!kept.contains(key)) doomed.push_back(key);
    }
  };
  switch (kind) {
    case ObjectKind::kProPsyService:
      collect(objects_.services);
      break;
    case ObjectKind::kSecret:
      collect(objects_.secrets);
      break;
    case ObjectKind::kEndpointSlice:
      collect(slice_owner_);
      break;
    case ObjectKind::kEndpoints:
      for (const auto& [key, endpoints] : objects_.endpoints) {
        if (endpoints->core_endpoints.has_value() && !kept.contains(key)) doomed.push_back(key);
      }
      break;
  }
  for (const ObjectKey& key : doomed) Delete(kind, key);
}

ClusterObjectsPtr ObjectStore::Snapshot() {
  if (snapshot_ == nullptr) snapshot_ = std::make_shared<const ClusterObjects>(objects_);
  return snapshot_;
}

ShownStatusesPtr ObjectStore::Statuses() {
  if (statuses_snapshot_ == nullptr) {
    statuses_snapshot_ = std::make_shared<const ShownStatuses>(statuses_);
  }
  return statuses_snapshot_;
}

}  // namespace propsy::model
