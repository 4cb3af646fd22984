#include "support/propsy_process.h"

#include <fmt/format.h>
#include <httplib.h>

#include <cstdlib>
#include <sstream>

#include "support/wait.h"

namespace propsy::test {

std::string TailLines(const std::string& text, size_t lines) {
  if (text.empty()) return text;
  size_t pos = text.size();
  for (size_t n = 0; n <= lines && pos != std::string::npos && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

absl::StatusOr<std::unique_ptr<PropsyProcess>> PropsyProcess::Start(
    const PropsyProcessOptions& options) {
  if (options.binary.empty()) return absl::InvalidArgumentError("no propsy binary given");
  if (options.admin_port <= 0) return absl::InvalidArgumentError("no admin port given");
  SubprocessOptions spawn;
  spawn.program = options.binary;
  spawn.args = options.args;
  spawn.args.push_back("-listenhealth");
  spawn.args.push_back(fmt::format("127.0.0.1:{}", options.admin_port));
  spawn.log_path = options.log_path;
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spawn);
  if (!process.ok()) return process.status();
  auto propsy = std::unique_ptr<PropsyProcess>(new PropsyProcess());
  propsy->process_ = std::move(*process);
  propsy->admin_port_ = options.admin_port;
  return propsy;
}

absl::Status PropsyProcess::WaitReady(std::chrono::milliseconds timeout) {
  std::string last = "no answer yet";
  bool ready = WaitFor(
      [&] {
        if (!process_->Running()) return true;
        absl::StatusOr<AdminAnswer> answer = AdminGet("/readyz");
        if (!answer.ok()) {
          last = answer.status().ToString();
          return false;
        }
        last = fmt::format("{} {}", answer->status, answer->body);
        return answer->status == 200;
      },
      timeout, std::chrono::milliseconds(100));
  if (!process_->Running()) {
    return absl::UnavailableError(
        fmt::format("propsy {}; log:\n{}", process_->DescribeExit(), LogTail()));
  }
  if (!ready) {
    return absl::DeadlineExceededError(
        fmt::format("propsy not ready in time (last /readyz: {}); log:\n{}", last, LogTail()));
  }
  return absl::OkStatus();
}

absl::StatusOr<AdminAnswer> PropsyProcess::AdminGet(const std::string& path) const {
  httplib::Client client("127.0.0.1", admin_port_);
  client.set_connection_timeout(std::chrono::seconds(2));
  client.set_read_timeout(std::chrono::seconds(5));
  httplib::Result result = client.Get(path.c_str());
  if (!result) {
    return absl::UnavailableError(
        fmt::format("propsy admin GET {}: {}", path, httplib::to_string(result.error())));
  }
  return AdminAnswer{.status = result->status, .body = result->body};
}

absl::StatusOr<double> PropsyProcess::Metric(const std::string& series) const {
  absl::StatusOr<AdminAnswer> answer = AdminGet("/metrics");
  if (!answer.ok()) return answer.status();
  if (answer->status != 200) {
    return absl::UnavailableError(fmt::format("/metrics answered {}", answer->status));
  }
  std::istringstream in(answer->body);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(series) || line.size() <= series.size() || line[series.size()] != ' ') {
      continue;
    }
    const std::string value = line.substr(series.size() + 1);
    char* end = nullptr;
    double parsed = std::strtod(value.c_str(), &end);
    if (end == value.c_str()) {
      return absl::InvalidArgumentError(fmt::format("unparsable metric line: {}", line));
    }
    return parsed;
  }
  return absl::NotFoundError(fmt::format("/metrics has no {}", series));
}

absl::StatusOr<double> PropsyProcess::MetricSum(
    const std::string& family, const std::map<std::string, std::string>& labels) const {
  absl::StatusOr<AdminAnswer> answer = AdminGet("/metrics");
  if (!answer.ok()) return answer.status();
  if (answer->status != 200) {
    return absl::UnavailableError(fmt::format("/metrics answered {}", answer->status));
  }
  std::istringstream in(answer->body);
  double sum = 0;
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(family) || line.size() <= family.size()) continue;
    const char next = line[family.size()];
    if (next != '{' && next != ' ') continue;
    const size_t value_at = line.rfind(' ');
    const std::string label_text = line.substr(family.size(), value_at - family.size());
    bool matches = true;
    for (const auto& [name, value] : labels) {
      matches =
          matches && label_text.find(fmt::format("{}=\"{}\"", name, value)) != std::string::npos;
    }
    if (!matches) continue;
    const std::string value = line.substr(value_at + 1);
    char* end = nullptr;
    const double parsed = std::strtod(value.c_str(), &end);
    if (end == value.c_str()) {
      return absl::InvalidArgumentError(fmt::format("unparsable metric line: {}", line));
    }
    sum += parsed;
    found = true;
  }
  if (!found) return absl::NotFoundError(fmt::format("/metrics has no {}", family));
  return sum;
}

std::string PropsyProcess::LogTail(size_t lines) const {
  return TailLines(process_->ReadLog(), lines);
}

}  // namespace propsy::test
