#pragma once

// How requests to an API server authenticate: the seam between the transport
// and the credential sources of a kubeconfig (static token, token file, exec
// plugin).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace propsy::kube {

// What one request presents to the API server. Empty fields are not sent;
// a client certificate given here replaces the one of the cluster
// configuration (exec plugins may hand out short-lived certificates).
struct Credential {
  std::string authorization;           // Authorization header value ("Bearer …")
  std::string client_certificate_pem;  // with client_key_pem, or both empty
  std::string client_key_pem;

  bool operator==(const Credential&) const = default;
};

// A source of credentials. Implementations are thread-safe: one instance
// serves every request to its API server.
class Authenticator {
 public:
  virtual ~Authenticator() = default;

  // The credential for the next request (may run a plugin or read a file).
  virtual absl::StatusOr<Credential> GetCredential() = 0;

  // The server answered 401 to a request made with `rejected`. Returns true
  // when a retry with a new GetCredential() may succeed (the credential was
  // or will be refreshed); the transport retries at most once per request.
  virtual bool OnUnauthorized(const Credential& rejected) = 0;

  // For logs: what kind of credential this is, never its secret.
  virtual std::string Describe() const = 0;
};

// No credential at all (anonymous requests, or a client certificate of the
// cluster configuration alone).
class NoAuthentication : public Authenticator {
 public:
  absl::StatusOr<Credential> GetCredential() override { return Credential{}; }
  bool OnUnauthorized(const Credential& /*rejected*/) override { return false; }
  std::string Describe() const override { return "none"; }
};

// A fixed bearer token (kubeconfig `token`).
class StaticToken : public Authenticator {
 public:
  explicit StaticToken(std::string token);
  absl::StatusOr<Credential> GetCredential() override { return credential_; }
  bool OnUnauthorized(const Credential& /*rejected*/) override { return false; }
  std::string Describe() const override { return "token"; }

 private:
  const Credential credential_;
};

// HTTP basic authentication (kubeconfig `username` + `password`).
class BasicAuth : public Authenticator {
 public:
  BasicAuth(const std::string& username, const std::string& password);
  absl::StatusOr<Credential> GetCredential() override { return credential_; }
  bool OnUnauthorized(const Credential& /*rejected*/) override { return false; }
  std::string Describe() const override { return "basic"; }

 private:
  const Credential credential_;
};

// A bearer token read from a file (kubeconfig `tokenFile`, the service
// account token in a pod). The kubelet rotates projected tokens by swapping
// the file, so the file is re-read when its identity (inode, size, mtime)
// changes, at least every `refresh_interval`, and after a 401. A file that
// cannot be read later keeps the last good token (the API server says 401
// if it really expired).
class TokenFile : public Authenticator {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // Reads the file once: a missing or empty token file is an error at start.
  static absl::StatusOr<std::unique_ptr<TokenFile>> Create(
      std::string path, std::chrono::seconds refresh_interval = std::chrono::minutes(1),
      Clock clock = nullptr);

  absl::StatusOr<Credential> GetCredential() override;
  bool OnUnauthorized(const Credential& rejected) override;
  std::string Describe() const override { return "token file " + path_; }

 private:
  struct FileIdentity {
    unsigned long long inode = 0;
    long long size = -1;
    long long mtime_ns = 0;
    bool operator==(const FileIdentity&) const = default;
  };

  TokenFile(std::string path, std::chrono::seconds refresh_interval, Clock clock);
  // The file's identity now; nullopt when it cannot be stat'ed.
  static std::optional<FileIdentity> Identify(const std::string& path);
  // Re-reads the file into token_; an error leaves token_ as it was.
  absl::Status ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const std::string path_;
  const std::chrono::seconds refresh_interval_;
  const Clock clock_;
  absl::Mutex mutex_;
  std::string token_ ABSL_GUARDED_BY(mutex_);
  std::optional<FileIdentity> identity_ ABSL_GUARDED_BY(mutex_);
  std::chrono::steady_clock::time_point last_read_ ABSL_GUARDED_BY(mutex_);
};

// Reads a small regular file whole (certificates, keys, tokens). Devices,
// FIFOs and files over `max_bytes` are refused, so a hostile path can
// neither block nor exhaust memory.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes = 1 << 20);

}  // namespace propsy::kube
