#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace propsy::xds {

// TLS for the xDS server, from the -servercert/-serverkey/-clientverifyca
// flags. Certificate + key give TLS; adding a client CA gives mutual TLS in
// which clients without a certificate chaining to it are refused.
struct ServerTlsFiles {
  std::string cert;
  std::string key;
  std::string client_ca;  // empty: no client certificates required
};

// Validates a flag combination: none of them (plaintext) or cert + key (+ CA).
// Anything else is an error naming the missing flag, never plaintext.
absl::StatusOr<std::optional<ServerTlsFiles>> ServerTlsFromFlags(const std::string& cert,
                                                                 const std::string& key,
                                                                 const std::string& client_ca);

// Credentials that re-read the files when they change on disk.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::optional<ServerTlsFiles>& tls, unsigned refresh_interval_seconds = 10);

}  // namespace propsy::xds
