// libFuzzer target for kubeconfig text: ParseKubeconfig must never crash, and
// what it accepts must be usable by a transport. File references resolve
// against a directory that does not exist, and exec plugins are never run
// (they only run when a credential is asked for).
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "kube/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<propsy::kube::ClusterConnectionConfig> config =
      propsy::kube::ParseKubeconfig(text, "/nonexistent-propsy-fuzz");
  if (!config.ok()) {
    PROPSY_FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
    PROPSY_FUZZ_CHECK(config.status().message().substr(0, 10) == "kubeconfig");
    return 0;
  }
  PROPSY_FUZZ_CHECK(config->authenticator != nullptr);
  PROPSY_FUZZ_CHECK(config->server.starts_with("https://") ||
                    config->server.starts_with("http://"));
  PROPSY_FUZZ_CHECK(!config->server.ends_with("/"));
  PROPSY_FUZZ_CHECK(config->client_certificate_pem.empty() == config->client_key_pem.empty());
  PROPSY_FUZZ_CHECK(
      !(config->insecure_skip_tls_verify && !config->certificate_authority_pem.empty()));
  PROPSY_FUZZ_CHECK(!config->context.empty());
  return 0;
}
