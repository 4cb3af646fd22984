#include "support/envoy_process.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/wait.h"

namespace propsy::test {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string EncodeQueryValue(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<google::protobuf::Struct> ParseJsonObject(const std::string& json) {
  google::protobuf::Struct result;
  auto status = google::protobuf::util::JsonStringToMessage(json, &result);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("bad JSON ({}): {:.200}", status.ToString(), json));
  }
  return result;
}

absl::StatusOr<std::unique_ptr<EnvoyProcess>> EnvoyProcess::Start(const EnvoyOptions& options) {
  if (options.envoy_path.empty()) return absl::InvalidArgumentError("no envoy binary given");
  const std::string bootstrap_path = options.work_dir + "/envoy.yaml";
  {
    std::ofstream out(bootstrap_path);
    out << options.bootstrap_yaml << "\n"
        << "admin:\n"
        << "  address:\n"
        << "    socket_address: {address: 127.0.0.1, port_value: 0}\n";
    if (!out) return absl::InternalError(fmt::format("cannot write {}", bootstrap_path));
  }
  auto envoy = std::unique_ptr<EnvoyProcess>(new EnvoyProcess());
  envoy->admin_address_path_ = options.work_dir + "/admin-address.txt";
  SubprocessOptions spawn;
  spawn.program = options.envoy_path;
  spawn.args = {"-c",
                bootstrap_path,
                "--admin-address-path",
                envoy->admin_address_path_,
                "--use-dynamic-base-id",
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "-l",
                options.log_level};
  spawn.args.insert(spawn.args.end(), options.extra_args.begin(), options.extra_args.end());
  spawn.log_path = options.work_dir + "/envoy.log";
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spawn);
  if (!process.ok()) return process.status();
  envoy->process_ = std::move(*process);
  return envoy;
}

absl::Status EnvoyProcess::WaitReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto remaining = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
  };
  bool exited = false;
  bool known = WaitFor(
      [&] {
        if (!process_->Running()) {
          exited = true;
          return true;
        }
        std::string address = ReadFile(admin_address_path_);
        size_t colon = address.rfind(':');
        if (colon == std::string::npos) return false;
        admin_port_ = std::atoi(address.c_str() + colon + 1);
        return admin_port_ > 0;
      },
      remaining());
  if (exited || !known) {
    return absl::UnavailableError(fmt::format("envoy admin did not come up ({}); log:\n{}",
                                              exited ? process_->DescribeExit() : "timeout",
                                              LogTail()));
  }
  std::string last_answer;
  bool live = WaitFor(
      [&] {
        if (!process_->Running()) return true;
        absl::StatusOr<std::string> ready = AdminGet("/ready");
        last_answer = ready.ok() ? *ready : ready.status().ToString();
        return ready.ok() && ready->find("LIVE") != std::string::npos;
      },
      remaining(), std::chrono::milliseconds(100));
  if (!process_->Running()) {
    return absl::UnavailableError(
        fmt::format("envoy {}; log:\n{}", process_->DescribeExit(), LogTail()));
  }
  if (!live) {
    return absl::DeadlineExceededError(
        fmt::format("envoy not LIVE in time (last /ready: {}); log:\n{}", last_answer, LogTail()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EnvoyProcess::AdminGet(const std::string& path) const {
  if (admin_port_ == 0) return absl::FailedPreconditionError("admin port unknown: call WaitReady");
  httplib::Client client("127.0.0.1", admin_port_);
  client.set_connection_timeout(std::chrono::seconds(2));
  client.set_read_timeout(std::chrono::seconds(5));
  httplib::Result result = client.Get(path.c_str());
  if (!result) {
    return absl::UnavailableError(
        fmt::format("admin GET {}: {}", path, httplib::to_string(result.error())));
  }
  if (result->status != 200) {
    return absl::UnavailableError(
        fmt::format("admin GET {}: status {}: {}", path, result->status, result->body));
  }
  return result->body;
}

absl::StatusOr<std::map<std::string, int64_t>> EnvoyProcess::Stats(
    const std::string& filter) const {
  absl::StatusOr<std::string> body =
      AdminGet(fmt::format("/stats?filter={}", EncodeQueryValue(filter)));
  if (!body.ok()) return body.status();
  std::map<std::string, int64_t> stats;
  std::istringstream in(*body);
  for (std::string line; std::getline(in, line);) {
    size_t sep = line.rfind(": ");
    if (sep == std::string::npos) continue;
    std::string value = line.substr(sep + 2);
    // Histograms ("P0(...)") and text readouts are not numbers: skip them.
    if (value.empty() || value.find_first_not_of("-0123456789") != std::string::npos) continue;
    stats[line.substr(0, sep)] = std::stoll(value);
  }
  return stats;
}

absl::StatusOr<int64_t> EnvoyProcess::Stat(const std::string& name) const {
  std::string escaped;
  for (char c : name) {
    if (c == '.') escaped += '\\';
    escaped += c;
  }
  absl::StatusOr<std::map<std::string, int64_t>> stats = Stats(fmt::format("^{}$", escaped));
  if (!stats.ok()) return stats.status();
  auto it = stats->find(name);
  if (it == stats->end()) return absl::NotFoundError(fmt::format("envoy has no stat {}", name));
  return it->second;
}

absl::StatusOr<int> EnvoyProcess::ListenerPort(const std::string& name) const {
  absl::StatusOr<std::string> body = AdminGet("/listeners?format=json");
  if (!body.ok()) return body.status();
  absl::StatusOr<google::protobuf::Struct> json = ParseJsonObject(*body);
  if (!json.ok()) return json.status();
  auto statuses = json->fields().find("listener_statuses");
  if (statuses != json->fields().end()) {
    for (const auto& listener : statuses->second.list_value().values()) {
      const auto& fields = listener.struct_value().fields();
      auto listener_name = fields.find("name");
      if (listener_name == fields.end() || listener_name->second.string_value() != name) continue;
      auto address = fields.find("local_address");
      if (address == fields.end()) break;
      const auto& socket = address->second.struct_value().fields().find("socket_address");
      if (socket == address->second.struct_value().fields().end()) break;
      const auto& port = socket->second.struct_value().fields().find("port_value");
      if (port == socket->second.struct_value().fields().end()) break;
      int value = static_cast<int>(port->second.number_value());
      if (value > 0) return value;
      break;
    }
  }
  return absl::NotFoundError(fmt::format("no active listener \"{}\" with a port: {}", name, *body));
}

absl::StatusOr<int> EnvoyProcess::WaitForListenerPort(const std::string& name,
                                                      std::chrono::milliseconds timeout) const {
  absl::StatusOr<int> port = absl::UnknownError("not polled");
  WaitFor(
      [&] {
        port = ListenerPort(name);
        return port.ok();
      },
      timeout, std::chrono::milliseconds(100));
  return port;
}

absl::StatusOr<google::protobuf::Struct> EnvoyProcess::ConfigDump(const std::string& query) const {
  absl::StatusOr<std::string> body =
      AdminGet(query.empty() ? "/config_dump" : fmt::format("/config_dump?{}", query));
  if (!body.ok()) return body.status();
  return ParseJsonObject(*body);
}

std::string EnvoyProcess::LogTail(size_t lines) const {
  std::string log = process_->ReadLog();
  size_t pos = log.size();
  for (size_t n = 0; n <= lines && pos != std::string::npos && pos > 0; ++n) {
    pos = log.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? log : log.substr(pos + 1);
}

}  // namespace propsy::test
