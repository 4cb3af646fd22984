// libFuzzer target for listen addresses (PPS spec.listen).
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "model/listen_address.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<propsy::model::ListenAddress> address = propsy::model::ParseListenAddress(text);
  if (!address.ok()) {
    PROPSY_FUZZ_CHECK(address.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  PROPSY_FUZZ_CHECK(address->port >= 1 && address->port <= 65535);
  PROPSY_FUZZ_CHECK(!address->host.empty());
  // The canonical text is a fixed point: it parses back to the same address.
  absl::StatusOr<propsy::model::ListenAddress> again =
      propsy::model::ParseListenAddress(address->ToString());
  PROPSY_FUZZ_CHECK(again.ok());
  PROPSY_FUZZ_CHECK(*again == *address);
  PROPSY_FUZZ_CHECK(again->ToString() == address->ToString());
  return 0;
}
