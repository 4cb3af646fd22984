#include "translate/tls.h"

#include <fmt/format.h>

#include "translate/names.h"

namespace propsy::translate {

SecretResolution ResolveTlsSecret(const model::World& world, const ResolvedService& service) {
  const model::ClusterView& cluster =
      world.config_clusters[service.GoverningEntry().config_cluster];
  const model::ObjectKey key{service.key.namespace_name, service.Spec().tls_certificate_secret};
  SecretResolution result;
  result.envoy_name = SecretResourceName(cluster.info.name, key);
  auto it = cluster.objects->secrets.find(key);
  if (it == cluster.objects->secrets.end()) {
    result.reason = "SecretNotFound";
    result.message =
        fmt::format("secret {} not found in config cluster {}", key.ToString(), cluster.info.name);
    return result;
  }
  const model::Entry<model::TlsSecret>& entry = it->second;
  if (!entry.last_good) {
    result.reason = "InvalidSecret";
    result.message = fmt::format("secret {} in config cluster {} is invalid: {}", key.ToString(),
                                 cluster.info.name, std::string(entry.error.message()));
    return result;
  }
  result.ok = true;
  result.secret = &*entry.last_good;
  if (entry.error.ok()) {
    result.message =
        fmt::format("secret {} found in config cluster {}", key.ToString(), cluster.info.name);
  } else {
    result.message = fmt::format(
        "secret {} in config cluster {} is invalid: {}; the last good version is still served",
        key.ToString(), cluster.info.name, std::string(entry.error.message()));
  }
  return result;
}

envoy::extensions::transport_sockets::tls::v3::Secret BuildSecret(const std::string& name,
                                                                  const model::TlsSecret& secret) {
  envoy::extensions::transport_sockets::tls::v3::Secret resource;
  resource.set_name(name);
  auto* certificate = resource.mutable_tls_certificate();
  certificate->mutable_certificate_chain()->set_inline_string(secret.certificate_chain_pem);
  certificate->mutable_private_key()->set_inline_string(secret.private_key_pem);
  return resource;
}

}  // namespace propsy::translate
