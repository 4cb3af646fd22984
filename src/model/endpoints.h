#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/object_meta.h"

namespace propsy::model {

enum class AddressType { kIpv4, kIpv6, kFqdn };

struct EndpointPort {
  std::string name;  // may be empty (a single unnamed port)
  uint32_t port = 0;
  auto operator<=>(const EndpointPort&) const = default;
};

// One endpoint of a slice; conditions as Kubernetes defines them (absent
// ready means ready; absent serving means equal to ready; absent terminating
// means false).
struct EndpointEntry {
  std::vector<std::string> addresses;
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  std::string zone;  // topology hint, informational
  auto operator<=>(const EndpointEntry&) const = default;
};

// A discovery.k8s.io/v1 EndpointSlice, or a core/v1 Endpoints object converted
// to the same shape (one slice per subset; addresses ready, notReadyAddresses
// not ready).
struct EndpointSlice {
  ObjectMeta meta;
  std::string service_name;  // kubernetes.io/service-name label (Endpoints: its name)
  AddressType address_type = AddressType::kIpv4;
  std::vector<EndpointPort> ports;
  std::vector<EndpointEntry> endpoints;
  bool from_core_endpoints = false;  // decoded from core/v1 Endpoints

  // The service this slice belongs to, in the slice's namespace.
  ObjectKey ServiceKey() const { return {meta.key.namespace_name, service_name}; }
  bool operator==(const EndpointSlice&) const = default;
};

// Decodes a discovery.k8s.io/v1 EndpointSlice. Errors name the field path.
// A slice without the kubernetes.io/service-name label is an error (it cannot
// be attributed to a service). apiVersion/kind are checked when present (list
// items of built-in kinds come without them). Addresses must be IP literals of
// the slice's addressType (FQDN slices: any non-empty text); IP addresses are
// canonicalized. A port entry without a port ("all ports") is skipped.
absl::StatusOr<EndpointSlice> DecodeEndpointSlice(const rapidjson::Value& object);

// Decodes a core/v1 Endpoints object into slices, one per subset and address
// family (empty ones are left out); all carry the object's meta and
// service_name = its name. notReadyAddresses become endpoints with ready and
// serving false.
absl::StatusOr<std::vector<EndpointSlice>> DecodeCoreEndpoints(const rapidjson::Value& object);

}  // namespace propsy::model
