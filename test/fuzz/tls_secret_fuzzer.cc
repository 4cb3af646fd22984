// libFuzzer target for the TLS Secret decoder: the input is JSON text.
#include <openssl/err.h>

#include "fuzz/fuzz_check.h"
#include "model/tls_secret.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rapidjson::Document document;
  if (!propsy::fuzz::ParseJson(data, size, &document)) return 0;
  absl::StatusOr<propsy::model::TlsSecret> secret = propsy::model::DecodeTlsSecret(document);
  if (secret.ok()) {
    PROPSY_FUZZ_CHECK(!secret->meta.key.name.empty());
    PROPSY_FUZZ_CHECK(
        propsy::model::ValidateTlsKeyPair(secret->certificate_chain_pem, secret->private_key_pem)
            .ok());
  } else {
    PROPSY_FUZZ_CHECK(secret.status().code() == absl::StatusCode::kInvalidArgument);
  }
  // No OpenSSL error is left behind for unrelated code to trip over.
  PROPSY_FUZZ_CHECK(ERR_peek_error() == 0);
  return 0;
}
