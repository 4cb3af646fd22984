#pragma once

#include <google/protobuf/struct.pb.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "support/subprocess.h"

namespace propsy::test {

struct EnvoyOptions {
  std::string envoy_path;  // absolute path of the envoy binary
  // The bootstrap in block-style YAML, without `admin:` (EnvoyProcess adds an
  // admin listener on 127.0.0.1, port 0).
  std::string bootstrap_yaml;
  // Where the bootstrap, the admin address file and the log are written.
  std::string work_dir;
  std::string log_level = "info";
  std::vector<std::string> extra_args;
};

// A real Envoy: writes the bootstrap, starts Envoy with hot restart off and a
// dynamic base id (so parallel tests never clash), and talks to its admin
// interface. Envoy is terminated when this is destroyed. Every wait is bounded.
class EnvoyProcess {
 public:
  static absl::StatusOr<std::unique_ptr<EnvoyProcess>> Start(const EnvoyOptions& options);

  // Waits until the admin address is known and /ready answers LIVE (Envoy
  // finished initializing, which includes its first xDS fetches).
  absl::Status WaitReady(std::chrono::milliseconds timeout);

  int admin_port() const { return admin_port_; }

  // GET on the admin interface; an error unless the answer is 200.
  absl::StatusOr<std::string> AdminGet(const std::string& path) const;

  // Counters and gauges whose names match the regex `filter` (as /stats?filter=).
  absl::StatusOr<std::map<std::string, int64_t>> Stats(const std::string& filter) const;
  // One stat by exact name; NotFound if Envoy does not have it.
  absl::StatusOr<int64_t> Stat(const std::string& name) const;

  // The port the active listener `name` is bound to (from /listeners).
  absl::StatusOr<int> ListenerPort(const std::string& name) const;
  // Polls ListenerPort until it succeeds or `timeout` passes.
  absl::StatusOr<int> WaitForListenerPort(const std::string& name,
                                          std::chrono::milliseconds timeout) const;

  // /config_dump (with `query`, e.g. "include_eds") parsed as JSON.
  absl::StatusOr<google::protobuf::Struct> ConfigDump(const std::string& query) const;

  Subprocess& process() { return *process_; }
  // The last `lines` lines of Envoy's log, for failure messages.
  std::string LogTail(size_t lines = 60) const;

 private:
  EnvoyProcess() = default;

  std::unique_ptr<Subprocess> process_;
  std::string admin_address_path_;
  int admin_port_ = 0;
};

// Parses JSON text into a google.protobuf.Struct (any JSON object).
absl::StatusOr<google::protobuf::Struct> ParseJsonObject(const std::string& json);

}  // namespace propsy::test
