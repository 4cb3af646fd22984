#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "support/subprocess.h"

namespace propsy::test {

struct PropsyProcessOptions {
  std::string binary;  // absolute path of the propsy binary
  // The command line without -listenhealth, which is added from admin_port.
  std::vector<std::string> args;
  int admin_port = 0;    // the -listenhealth port on 127.0.0.1; must be given
  std::string log_path;  // stdout and stderr
};

// An answer of propsy's admin HTTP server, whatever its status.
struct AdminAnswer {
  int status = 0;
  std::string body;
};

// The real propsy binary as a child process, and its admin HTTP interface
// (-listenhealth). Terminated (SIGTERM, then SIGKILL) when destroyed. Every
// wait is bounded.
class PropsyProcess {
 public:
  static absl::StatusOr<std::unique_ptr<PropsyProcess>> Start(const PropsyProcessOptions& options);

  // Waits until /readyz answers 200; fails at once if the process exits.
  absl::Status WaitReady(std::chrono::milliseconds timeout);

  // GET on the admin interface (any HTTP status); an error only when no
  // answer came.
  absl::StatusOr<AdminAnswer> AdminGet(const std::string& path) const;

  // The value of one series of /metrics, named exactly as exposed, e.g.
  // `propsy_xds_nacks_total{type="cluster"}`; NotFound if it is not there.
  absl::StatusOr<double> Metric(const std::string& series) const;
  // The sum of every series of `family` whose labels include all of
  // `labels` (e.g. propsy_xds_nacks_total over all types); NotFound if none
  // matches.
  absl::StatusOr<double> MetricSum(const std::string& family,
                                   const std::map<std::string, std::string>& labels = {}) const;

  int admin_port() const { return admin_port_; }
  Subprocess& process() { return *process_; }
  // The last `lines` lines of propsy's log, for failure messages.
  std::string LogTail(size_t lines = 60) const;

 private:
  PropsyProcess() = default;

  std::unique_ptr<Subprocess> process_;
  int admin_port_ = 0;
};

// The last `lines` lines of `text`.
std::string TailLines(const std::string& text, size_t lines);

}  // namespace propsy::test
