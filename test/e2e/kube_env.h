#pragma once

// Real Kubernetes API servers for end-to-end tests: a thin C++ face of the
// scripts in test/kube-env (start, stop, outage, compaction) and of kubectl.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "support/temp_dir.h"

namespace propsy::e2e {

// What to start: one cluster (kube-apiserver + its own etcd) per spec.
struct KubeClusterSpec {
  std::string zone;
  // kube-apiserver --watch-cache. Off, watches are served from etcd, so a
  // watch from a compacted revision is answered 410 Gone.
  bool watch_cache = true;
};

// One running cluster: where its files are and how to reach it.
struct KubeCluster {
  std::string zone;
  std::string workdir;  // the start-clusters.sh WORKDIR (one cluster each)
  std::string dir;      // workdir/cluster-1: pki/, logs/, tokens.csv, ...
  int apiserver_port = 0;
  std::string ca_path;           // the cluster CA, which signed the serving certificate
  std::string admin_token;       // bearer token of propsy-admin (system:masters)
  std::string admin_kubeconfig;  // written by start-clusters.sh
  std::string server() const;    // https://127.0.0.1:PORT
};

// Clusters started together (each its own kube-apiserver and etcd) and
// stopped when this is destroyed. A reaper process outlives an abnormal end of the test
// process (a crash, a CTest time-out kill) and then stops the clusters, so
// no API server or etcd is ever left running. Every command is bounded.
class KubeEnv {
 public:
  // Starts the clusters (in parallel) under a fresh temporary directory.
  static absl::StatusOr<std::unique_ptr<KubeEnv>> Start(const std::vector<KubeClusterSpec>& specs);
  ~KubeEnv();
  KubeEnv(const KubeEnv&) = delete;
  KubeEnv& operator=(const KubeEnv&) = delete;

  size_t size() const { return clusters_.size(); }
  const KubeCluster& cluster(size_t i) const { return clusters_.at(i); }
  const std::string& root() const;

  // kubectl with the admin kubeconfig of cluster i; its output, or an error
  // with the output when it exits non-zero.
  absl::StatusOr<std::string> Kubectl(size_t i, const std::vector<std::string>& args);
  // kubectl apply -f of `yaml` (with --validate=false when !validate).
  absl::Status Apply(size_t i, const std::string& yaml, bool validate = true);

  // Outage of cluster i's API server (its etcd keeps running) and its return
  // on the same port (waits for /readyz).
  absl::Status StopApiserver(size_t i);
  absl::Status StartApiserver(size_t i);
  // Compacts cluster i's etcd at its current revision; returns it.
  absl::StatusOr<int64_t> CompactEtcd(size_t i);

  // The last `lines` lines of every API server's log, for failure messages.
  std::string LogTails(size_t lines) const;

  // Stops every cluster (idempotent).
  absl::Status Stop();

 private:
  KubeEnv() = default;
  absl::Status StartReaper();
  absl::StatusOr<std::string> RunScript(const std::string& script,
                                        const std::vector<std::string>& args,
                                        std::chrono::seconds timeout);

  test::TempDir root_{"propsy-kube-e2e"};
  std::vector<KubeCluster> clusters_;
  int reaper_fd_ = -1;  // write end of the reaper's pipe; closing it wakes the reaper
  int commands_ = 0;    // numbers the manifest and log files of commands
  bool stopped_ = false;
};

// The local IPv4 address that backends listen on and EndpointSlices carry:
// the API server refuses loopback, link-local and unspecified addresses in
// EndpointSlices, so 127.0.0.1 cannot be used. $PROPSY_E2E_ENDPOINT_IP if
// set, else the first address of an interface that is up and not loopback.
absl::StatusOr<std::string> EndpointAddress();

// Writes a kubeconfig (mode 0600) for `server` with `ca_path` as the
// certificate authority; `user_yaml` is the body of the user entry, indented
// by four spaces (e.g. "    token: abc\n").
absl::Status WriteKubeconfig(const std::string& path, const std::string& server,
                             const std::string& ca_path, const std::string& user_yaml);

// Writes `text` to `path` by renaming a temporary file into place (readers
// see the old or the new content, never half of it; the inode changes).
absl::Status WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace propsy::e2e
