#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace propsy::test {

// What a TLS client saw on one connection.
struct TlsProbeResult {
  std::string subject_cn;     // common name of the certificate the server presented
  std::string http_response;  // the raw HTTP/1.1 response, when a request was sent
};

// Connects to 127.0.0.1:port, does a TLS handshake with SNI `server_name`
// (the certificate is read, not verified: tests use self-signed ones) and,
// if `http_path` is not empty, sends "GET http_path" with Connection: close
// and reads the whole response. Every wait is bounded (5 s per socket
// operation).
absl::StatusOr<TlsProbeResult> ProbeTls(int port, const std::string& server_name,
                                        const std::string& http_path);

}  // namespace propsy::test
