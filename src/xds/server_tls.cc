#include "xds/server_tls.h"

#include <fmt/format.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>

namespace propsy::xds {
namespace {

absl::Status CheckReadable(const std::string& path, std::string_view flag) {
  std::ifstream file(path);
  if (!file) return absl::InvalidArgumentError(fmt::format("{}: cannot read \"{}\"", flag, path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<ServerTlsFiles>> ServerTlsFromFlags(const std::string& cert,
                                                                 const std::string& key,
                                                                 const std::string& client_ca) {
  if (cert.empty() && key.empty() && client_ca.empty()) return std::nullopt;
  if (cert.empty()) {
    return absl::InvalidArgumentError(
        "-servercert is required when -serverkey or -clientverifyca is given");
  }
  if (key.empty()) {
    return absl::InvalidArgumentError(
        "-serverkey is required when -servercert or -clientverifyca is given");
  }
  for (auto [path, flag] : {std::pair{cert, "-servercert"}, std::pair{key, "-serverkey"},
                            std::pair{client_ca, "-clientverifyca"}}) {
    if (path.empty()) continue;
    if (auto status = CheckReadable(path, flag); !status.ok()) return status;
  }
  return ServerTlsFiles{cert, key, client_ca};
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::optional<ServerTlsFiles>& tls, unsigned refresh_interval_seconds) {
  if (!tls.has_value()) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls->key, tls->cert, tls->client_ca, refresh_interval_seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls->client_ca.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  auto credentials = grpc::experimental::TlsServerCredentials(options);
  if (!credentials) return absl::InternalError("could not create TLS server credentials");
  return credentials;
}

}  // namespace propsy::xds
