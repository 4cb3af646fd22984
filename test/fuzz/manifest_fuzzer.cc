// libFuzzer target for manifest files: the input is YAML (or JSON) text; the
// documents it yields go through the object store like a dir: source's.
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "model/cluster_objects.h"
#include "model/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<propsy::model::ManifestDocument>> documents =
      propsy::model::ParseManifest(text, "fuzz.yaml");
  if (!documents.ok()) {
    PROPSY_FUZZ_CHECK(documents.status().code() == absl::StatusCode::kInvalidArgument);
    PROPSY_FUZZ_CHECK(documents.status().message().substr(0, 9) == "fuzz.yaml");
    return 0;
  }
  propsy::model::ObjectStore store;
  for (const propsy::model::ManifestDocument& document : *documents) {
    PROPSY_FUZZ_CHECK(document.object.IsObject());
    PROPSY_FUZZ_CHECK(document.line >= 1);
    (void)store.Upsert(document.object);
  }
  const auto snapshot = store.Snapshot();
  PROPSY_FUZZ_CHECK(snapshot != nullptr && store.Snapshot() == snapshot);
  return 0;
}
