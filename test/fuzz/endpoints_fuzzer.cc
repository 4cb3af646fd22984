// libFuzzer target for the EndpointSlice and core/v1 Endpoints decoders: the
// input is JSON text, decoded as both.
#include <initializer_list>

#include "fuzz/fuzz_check.h"
#include "model/cluster_objects.h"
#include "model/endpoints.h"
#include "model/ip_address.h"

using propsy::model::AddressType;
using propsy::model::EndpointSlice;

namespace {

void CheckSlice(const EndpointSlice& slice) {
  PROPSY_FUZZ_CHECK(!slice.meta.key.name.empty());
  PROPSY_FUZZ_CHECK(!slice.service_name.empty());
  for (const auto& port : slice.ports) PROPSY_FUZZ_CHECK(port.port >= 1 && port.port <= 65535);
  for (const auto& endpoint : slice.endpoints) {
    PROPSY_FUZZ_CHECK(!endpoint.addresses.empty());
    for (const auto& address : endpoint.addresses) {
      // IP addresses are stored canonical.
      if (slice.address_type == AddressType::kIpv4) {
        PROPSY_FUZZ_CHECK(propsy::model::CanonicalIpv4(address) == address);
      } else if (slice.address_type == AddressType::kIpv6) {
        PROPSY_FUZZ_CHECK(propsy::model::CanonicalIpv6(address) == address);
      } else {
        PROPSY_FUZZ_CHECK(!address.empty());
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rapidjson::Document document;
  if (!propsy::fuzz::ParseJson(data, size, &document)) return 0;

  absl::StatusOr<EndpointSlice> slice = propsy::model::DecodeEndpointSlice(document);
  if (slice.ok()) {
    CheckSlice(*slice);
    PROPSY_FUZZ_CHECK(!slice->from_core_endpoints);
  }
  absl::StatusOr<std::vector<EndpointSlice>> core = propsy::model::DecodeCoreEndpoints(document);
  if (core.ok()) {
    for (const EndpointSlice& converted : *core) {
      PROPSY_FUZZ_CHECK(converted.from_core_endpoints);
      PROPSY_FUZZ_CHECK(converted.address_type != AddressType::kFqdn);
      PROPSY_FUZZ_CHECK(!converted.endpoints.empty());
      CheckSlice(converted);
    }
  }

  // Through the store, both ways; upserting again changes nothing, and a
  // delete leaves nothing behind.
  propsy::model::ObjectStore store;
  for (auto kind :
       {propsy::model::ObjectKind::kEndpointSlice, propsy::model::ObjectKind::kEndpoints}) {
    (void)store.Upsert(kind, document);
    const auto snapshot = store.Snapshot();
    (void)store.Upsert(kind, document);
    PROPSY_FUZZ_CHECK(store.Snapshot() == snapshot);
  }
  store.RetainOnly(propsy::model::ObjectKind::kEndpointSlice, {});
  store.RetainOnly(propsy::model::ObjectKind::kEndpoints, {});
  PROPSY_FUZZ_CHECK(store.Snapshot()->endpoints.empty());
  return 0;
}
