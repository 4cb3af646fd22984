#pragma once

#include <grpcpp/security/auth_context.h>

#include <string>

#include "absl/status/status.h"

namespace propsy::xds {

// Under mutual TLS, an Envoy may only ask for its own configuration: the
// node id must equal the client certificate's common name or one of its DNS
// or URI subject alternative names. TLS private keys travel over SDS, so this
// is a security boundary. Returns PERMISSION_DENIED naming both sides.
absl::Status CheckPeerIdentity(const grpc::AuthContext& auth, const std::string& node_id);

}  // namespace propsy::xds
