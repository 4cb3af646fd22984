#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "kube/kubeconfig.h"
#include "model/json_fields.h"

namespace propsy::kube {

absl::StatusOr<ClusterConnectionConfig> InClusterConfig(const std::string& service_account_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return absl::FailedPreconditionError(
        "incluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not "
        "running in a Kubernetes pod)");
  }
  const std::string host_text(host);
  const std::string port_text(port);
  if (port_text.find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError(
        fmt::format("incluster: KUBERNETES_SERVICE_PORT \"{}\" is not a port number",
                    model::SanitizeForMessage(port_text)));
  }
  ClusterConnectionConfig config;
  // An IPv6 service address needs brackets in a URL.
  config.server = host_text.find(':') != std::string::npos
                      ? fmt::format("https://[{}]:{}", host_text, port_text)
                      : fmt::format("https://{}:{}", host_text, port_text);
  const std::string ca_path = (std::filesystem::path(service_account_dir) / "ca.crt").string();
  absl::StatusOr<std::string> ca = ReadSmallFile(ca_path);
  if (!ca.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("incluster: {}", std::string(ca.status().message())));
  }
  config.certificate_authority_pem = *std::move(ca);
  absl::StatusOr<std::unique_ptr<TokenFile>> token =
      TokenFile::Create((std::filesystem::path(service_account_dir) / "token").string());
  if (!token.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("incluster: {}", std::string(token.status().message())));
  }
  config.authenticator = *std::move(token);
  return config;
}

}  // namespace propsy::kube
