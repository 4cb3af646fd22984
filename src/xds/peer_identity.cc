#include "xds/peer_identity.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <grpc/grpc_security_constants.h>

#include <vector>

namespace propsy::xds {

absl::Status CheckPeerIdentity(const grpc::AuthContext& auth, const std::string& node_id) {
  std::vector<std::string> identities;
  for (const char* property : {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME,
                               GRPC_PEER_DNS_PROPERTY_NAME, GRPC_PEER_URI_PROPERTY_NAME}) {
    for (const grpc::string_ref& value : auth.FindPropertyValues(property)) {
      std::string identity(value.data(), value.size());
      if (identity == node_id) return absl::OkStatus();
      identities.push_back(std::move(identity));
    }
  }
  return absl::PermissionDeniedError(fmt::format(
      "node id \"{}\" does not match the client certificate identity ({}); run with "
      "-peerskipcn to allow it",
      node_id, identities.empty() ? "none" : fmt::format("{}", fmt::join(identities, ", "))));
}

}  // namespace propsy::xds
