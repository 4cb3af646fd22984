#pragma once

// Where an API server is and how to talk to it, from a kubeconfig file or
// from the service account of the pod ProPsy runs in.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kube/authenticator.h"

namespace propsy::kube {

// Everything a transport needs for one API server. Certificates are loaded
// (PEM text, not paths), so the transport reads no files.
struct ClusterConnectionConfig {
  std::string context;  // the kubeconfig context used ("" for in-cluster)
  // Base URL, "https://host:port" possibly with a path prefix; never ends
  // with '/'.
  std::string server;
  std::string certificate_authority_pem;  // empty: the system's trust store
  std::string client_certificate_pem;     // with client_key_pem, or both empty
  std::string client_key_pem;
  // Name the server certificate is checked against (and sent as SNI) instead
  // of the host of `server`.
  std::string tls_server_name;
  bool insecure_skip_tls_verify = false;
  // http://, https:// or socks5:// proxy; empty: the proxy environment
  // variables (https_proxy, no_proxy, ...) apply.
  std::string proxy_url;
  // Never null: NoAuthentication when the user has no credential.
  std::shared_ptr<Authenticator> authenticator;
};

// Reads the kubeconfig at `path` (relative file paths inside it are resolved
// against its directory) and returns its current context's connection.
absl::StatusOr<ClusterConnectionConfig> LoadKubeconfig(const std::string& path);

// Parses kubeconfig text. Supported: current-context; clusters[].cluster
// server, certificate-authority (file) / certificate-authority-data
// (base64; wins over the file), tls-server-name, insecure-skip-tls-verify,
// proxy-url, extensions (the exec plugin's config); users[].user
// client-certificate / client-key (files) and -data (base64; win over
// files), token, tokenFile (wins over token, re-read as it rotates),
// username + password, exec (client.authentication.k8s.io v1 and v1beta1).
// Only the current context's cluster and user are decoded; other entries
// are not looked at beyond their names. Errors are InvalidArgument naming
// the field path ("users[0].user.client-key-data: not base64"); a file that
// cannot be read names the field and the file. Relative paths resolve
// against `base_dir`. Exec plugins do not run here: they run on the first
// request.
absl::StatusOr<ClusterConnectionConfig> ParseKubeconfig(std::string_view yaml_text,
                                                        const std::string& base_dir);

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// The connection of a pod's service account: https://$KUBERNETES_SERVICE_HOST:
// $KUBERNETES_SERVICE_PORT with `service_account_dir`/ca.crt as the CA and
// `service_account_dir`/token as a rotating token file. FailedPrecondition
// when not running in a pod (variables unset).
absl::StatusOr<ClusterConnectionConfig> InClusterConfig(
    const std::string& service_account_dir = kServiceAccountDir);

}  // namespace propsy::kube
