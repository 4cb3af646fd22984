// libFuzzer target for the replicas' progress reports (a ConfigMapList as
// the API server answers the leader's list): the input is JSON text. A
// report that decodes survives encoding and decoding again unchanged.
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "status/progress_report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<propsy::status::ListedReport>> listed =
      propsy::status::DecodeReportList(body);
  if (!listed.ok()) {
    PROPSY_FUZZ_CHECK(listed.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  for (const propsy::status::ListedReport& item : *listed) {
    PROPSY_FUZZ_CHECK(!item.name.empty());
    if (!item.report.ok()) continue;
    for (const auto& [key, progress] : item.report->objects) {
      PROPSY_FUZZ_CHECK(!key.namespace_name.empty() && !key.name.empty());
      PROPSY_FUZZ_CHECK(progress.acknowledged <= progress.targeted);
    }
    // Long rejections are cut when encoded: compare what survives that.
    propsy::status::ProgressReport report = *item.report;
    for (auto& [key, progress] : report.objects) {
      if (progress.rejection.size() > 1000) progress.rejection.resize(1000);
    }
    const std::string configmap =
        propsy::status::EncodeReport(report, item.name, "ns", "propsy", "now");
    const std::string list = "{\"items\":[" + configmap + "]}";
    absl::StatusOr<std::vector<propsy::status::ListedReport>> again =
        propsy::status::DecodeReportList(list);
    PROPSY_FUZZ_CHECK(again.ok() && again->size() == 1 && (*again)[0].report.ok());
    PROPSY_FUZZ_CHECK(*(*again)[0].report == report);
  }
  return 0;
}
