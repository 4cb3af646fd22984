#pragma once

// The exec credential plugin of kubeconfig users (`user.exec`): a program
// that prints an ExecCredential object (client.authentication.k8s.io v1 or
// v1beta1) holding a bearer token or a client certificate, as cloud
// providers' "get-token" helpers do.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kube/authenticator.h"

namespace propsy::kube {

inline constexpr char kExecApiV1[] = "client.authentication.k8s.io/v1";
inline constexpr char kExecApiV1Beta1[] = "client.authentication.k8s.io/v1beta1";

// `users[].user.exec` of a kubeconfig, validated: api_version is one of the
// two above and interactive_mode is "Never" or "IfAvailable" (ProPsy runs
// without a terminal, so "Always" is refused when the kubeconfig is read).
struct ExecConfig {
  std::string api_version;
  std::string command;  // a bare name (PATH) or an absolute path
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to ProPsy's own
  std::string install_hint;
  bool provide_cluster_info = false;
  std::string interactive_mode;
};

// The cluster as the plugin sees it in spec.cluster when provideClusterInfo
// is set (the kubeconfig's cluster entry).
struct ExecClusterInfo {
  std::string server;
  std::string tls_server_name;
  bool insecure_skip_tls_verify = false;
  std::string certificate_authority_pem;
  std::string proxy_url;
  // The cluster's extension named "client.authentication.k8s.io/exec" as
  // JSON text (spec.cluster.config), or empty.
  std::string config_json;
};

struct ExecCredentialOptions {
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  // How long the plugin may run before it is killed.
  std::chrono::milliseconds timeout{60000};
  // A credential is renewed this long before its expirationTimestamp.
  std::chrono::seconds expiry_margin{10};
  Clock clock;  // defaults to the system clock
};

// What one plugin run returned.
struct ExecCredentialOutput {
  Credential credential;
  // status.expirationTimestamp; nullopt means valid until the server says
  // 401.
  std::optional<std::chrono::system_clock::time_point> expiry;
};

// Parses a plugin's standard output: an ExecCredential of `api_version`
// whose status carries a token, a client certificate and key (PEM), or both.
absl::StatusOr<ExecCredentialOutput> ParseExecCredentialOutput(std::string_view json,
                                                               std::string_view api_version);

// Runs the plugin when a credential is needed and none is cached, caches its
// answer until the expiry (less a margin) or until a request made with it is
// answered 401, then runs it again. Thread-safe; concurrent callers wait for
// one run instead of starting several.
class ExecCredential : public Authenticator {
 public:
  ExecCredential(ExecConfig config, std::optional<ExecClusterInfo> cluster,
                 ExecCredentialOptions options = {});

  absl::StatusOr<Credential> GetCredential() override;
  bool OnUnauthorized(const Credential& rejected) override;
  std::string Describe() const override { return "exec plugin " + config_.command; }

  // The KUBERNETES_EXEC_INFO value given to the plugin (an ExecCredential
  // with spec.interactive false and spec.cluster when provideClusterInfo).
  std::string ExecInfoJson() const;
  // How often the plugin has run.
  int runs() const;

 private:
  absl::StatusOr<ExecCredentialOutput> RunPlugin() const;

  const ExecConfig config_;
  const std::optional<ExecClusterInfo> cluster_;
  const ExecCredentialOptions options_;
  mutable absl::Mutex mutex_;
  std::optional<ExecCredentialOutput> cached_ ABSL_GUARDED_BY(mutex_);
  int runs_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace propsy::kube
