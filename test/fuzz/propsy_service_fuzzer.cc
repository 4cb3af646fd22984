// libFuzzer target for the ProPsyService decoder: the input is JSON text.
#include "fuzz/fuzz_check.h"
#include "model/cluster_objects.h"
#include "model/propsy_service.h"

using propsy::model::ProPsyService;
using propsy::model::ServiceType;

namespace {

// What a decoded service promises to translation.
void CheckInvariants(const ProPsyService& service) {
  const auto& spec = service.spec;
  PROPSY_FUZZ_CHECK(!service.meta.key.name.empty());
  PROPSY_FUZZ_CHECK(!service.meta.key.namespace_name.empty());
  PROPSY_FUZZ_CHECK(!spec.service.empty());
  PROPSY_FUZZ_CHECK((spec.service_port >= 1 && spec.service_port <= 65535) ||
                    !spec.service_port_name.empty());
  PROPSY_FUZZ_CHECK(spec.percent <= 100 && spec.canary_percent <= 100);
  PROPSY_FUZZ_CHECK(spec.canary_percent == 0 || !spec.canary_service.empty());
  PROPSY_FUZZ_CHECK(!spec.nodes.empty());
  for (const auto& node : spec.nodes) PROPSY_FUZZ_CHECK(!node.empty());
  PROPSY_FUZZ_CHECK(!spec.path_prefix.empty() && spec.path_prefix.front() == '/');
  if (spec.type == ServiceType::kTcp) {
    PROPSY_FUZZ_CHECK(spec.path_prefix == "/" && spec.prefix_rewrite.empty());
  }
  PROPSY_FUZZ_CHECK(!spec.timeout_ms || (*spec.timeout_ms >= 1 && *spec.timeout_ms <= 600000));
  PROPSY_FUZZ_CHECK(!spec.connect_timeout_ms ||
                    (*spec.connect_timeout_ms >= 1 && *spec.connect_timeout_ms <= 60000));
  PROPSY_FUZZ_CHECK(!spec.timeout_ms || spec.connect_timeout_ms);
  const auto listen = propsy::model::ParseListenAddress(spec.listen.ToString());
  PROPSY_FUZZ_CHECK(listen.ok() && *listen == spec.listen);
  if (spec.outlier_detection && spec.outlier_detection->ejection_percent) {
    PROPSY_FUZZ_CHECK(*spec.outlier_detection->ejection_percent <= 100);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rapidjson::Document document;
  if (!propsy::fuzz::ParseJson(data, size, &document)) return 0;
  absl::StatusOr<ProPsyService> service = propsy::model::DecodeProPsyService(document);
  if (service.ok()) {
    CheckInvariants(*service);
  } else {
    PROPSY_FUZZ_CHECK(service.status().code() == absl::StatusCode::kInvalidArgument);
    PROPSY_FUZZ_CHECK(!service.status().message().empty());
  }
  // Recording the same object twice changes nothing the second time.
  propsy::model::ObjectStore store;
  (void)store.Upsert(propsy::model::ObjectKind::kProPsyService, document);
  const auto snapshot = store.Snapshot();
  (void)store.Upsert(propsy::model::ObjectKind::kProPsyService, document);
  PROPSY_FUZZ_CHECK(store.Snapshot() == snapshot);
  PROPSY_FUZZ_CHECK(snapshot->services.size() <= 1);
  return 0;
}
