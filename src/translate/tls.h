#pragma once

#include <string>

#include "envoy/extensions/transport_sockets/tls/v3/secret.pb.h"
#include "model/tls_secret.h"
#include "model/world.h"
#include "translate/service_resolution.h"

namespace propsy::translate {

// The outcome of looking up a service's tlsCertificateSecret in the config
// cluster of its governing definition.
struct SecretResolution {
  // A certificate can be served: the newest version, or the last good one
  // while the newest is invalid.
  bool ok = false;
  std::string envoy_name;                    // SDS resource name
  const model::TlsSecret* secret = nullptr;  // set iff ok
  std::string reason;                        // when !ok: "SecretNotFound" or "InvalidSecret"
  std::string message;                       // names the secret; says what is wrong, if anything
};

// Requires service.HasDefinition() and a non-empty tls_certificate_secret.
SecretResolution ResolveTlsSecret(const model::World& world, const ResolvedService& service);

// The SDS Secret resource carrying `secret` inline.
envoy::extensions::transport_sockets::tls::v3::Secret BuildSecret(const std::string& name,
                                                                  const model::TlsSecret& secret);

}  // namespace propsy::translate
