#include "e2e/kube_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/propsy_process.h"
#include "support/subprocess.h"

#ifndef PROPSY_KUBE_ENV_DIR
#error "PROPSY_KUBE_ENV_DIR must be defined by the build"
#endif
#ifndef PROPSY_KUBECTL_PATH
#error "PROPSY_KUBECTL_PATH must be defined by the build"
#endif

extern char** environ;

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;

// Starting includes build.sh, which only prints its directory when the
// binaries are cached (scripts/test.sh builds them first). A warm Go build
// cache rebuilds in well under this; a cold one does not.
constexpr auto kStartTimeout = 240s;
// The API server waits for open watches on SIGTERM; an outage in a test is
// a kill, not a graceful shutdown, so stops use a short grace period.
constexpr char kStopTimeoutSeconds[] = "1";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// APISERVER_PORT from ports.env.
absl::StatusOr<int> ApiserverPort(const std::string& dir) {
  std::istringstream in(ReadFile(dir + "/ports.env"));
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("APISERVER_PORT=")) return std::atoi(line.c_str() + 15);
  }
  return absl::NotFoundError(fmt::format("no APISERVER_PORT in {}/ports.env", dir));
}

}  // namespace

std::string KubeCluster::server() const {
  return fmt::format("https://127.0.0.1:{}", apiserver_port);
}

absl::StatusOr<std::unique_ptr<KubeEnv>> KubeEnv::Start(const std::vector<KubeClusterSpec>& specs) {
  auto env = std::unique_ptr<KubeEnv>(new KubeEnv());
  for (const KubeClusterSpec& spec : specs) {
    KubeCluster cluster;
    cluster.zone = spec.zone;
    cluster.workdir = env->root_.File(spec.zone);
    cluster.dir = cluster.workdir + "/cluster-1";
    env->clusters_.push_back(cluster);
  }
  if (absl::Status reaper = env->StartReaper(); !reaper.ok()) return reaper;

  // One start-clusters.sh per cluster (each may have its own flags), all at
  // once: start-up is mostly waiting.
  std::vector<std::unique_ptr<test::Subprocess>> starting;
  for (size_t i = 0; i < specs.size(); ++i) {
    test::SubprocessOptions options;
    options.program = std::string(PROPSY_KUBE_ENV_DIR) + "/start-clusters.sh";
    options.args = {"1", env->clusters_[i].workdir};
    options.env = {{"KUBE_ENV_WATCH_CACHE", specs[i].watch_cache ? "true" : "false"},
                   {"KUBE_ENV_STOP_TIMEOUT", kStopTimeoutSeconds}};
    options.log_path = env->root_.File(fmt::format("start-{}.log", specs[i].zone));
    absl::StatusOr<std::unique_ptr<test::Subprocess>> process = test::Subprocess::Start(options);
    if (!process.ok()) return process.status();
    starting.push_back(std::move(*process));
  }
  std::string errors;
  for (size_t i = 0; i < starting.size(); ++i) {
    std::optional<int> status = starting[i]->Wait(kStartTimeout);
    if (!status.has_value()) starting[i]->Terminate();
    if (!status.has_value() || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      errors += fmt::format(
          "start-clusters.sh for {} {} (if the binaries are not built yet, run "
          "test/kube-env/build.sh first):\n{}\n",
          specs[i].zone, status.has_value() ? starting[i]->DescribeExit() : "timed out",
          test::TailLines(starting[i]->ReadLog(), 30));
    }
  }
  if (!errors.empty()) return absl::UnavailableError(errors);

  for (KubeCluster& cluster : env->clusters_) {
    absl::StatusOr<int> port = ApiserverPort(cluster.dir);
    if (!port.ok()) return port.status();
    cluster.apiserver_port = *port;
    cluster.ca_path = cluster.dir + "/pki/ca.crt";
    cluster.admin_token = Trim(ReadFile(cluster.dir + "/token"));
    cluster.admin_kubeconfig = cluster.dir + "/kubeconfig";
  }
  return env;
}

KubeEnv::~KubeEnv() {
  (void)Stop();
  // Wakes the reaper, which finds nothing left to stop.
  if (reaper_fd_ >= 0) close(reaper_fd_);
}

const std::string& KubeEnv::root() const { return root_.path().native(); }

absl::Status KubeEnv::StartReaper() {
  // The reaper waits for the end of a pipe whose only writer is this
  // process: it comes when this process closes it or dies, however. Then it
  // stops the clusters (nothing to do after Stop()) and removes the
  // directory, as TempDir would.
  std::string script =
      "exec 0<&3 >/dev/null 2>&1 || exit 1; cat; "
      "for workdir in \"$@\"; do \"$0\" \"$workdir\"; done; "
      "[ -n \"${PROPSY_KEEP_TEST_DIRS:-}\" ] || rm -rf \"$ROOT_DIR\"";
  std::vector<std::string> args = {"/bin/bash", "-c", script,
                                   std::string(PROPSY_KUBE_ENV_DIR) + "/stop-clusters.sh"};
  for (const KubeCluster& cluster : clusters_) args.push_back(cluster.workdir);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // The environment is built before fork: the child only calls
  // async-signal-safe functions.
  std::vector<std::string> env = {"ROOT_DIR=" + root(),
                                  std::string("KUBE_ENV_STOP_TIMEOUT=") + kStopTimeoutSeconds};
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view kv(*entry);
    if (!kv.starts_with("ROOT_DIR=") && !kv.starts_with("KUBE_ENV_STOP_TIMEOUT=")) {
      env.emplace_back(kv);
    }
  }
  std::vector<char*> envp;
  for (std::string& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  const pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError("fork failed");
  }
  if (child == 0) {
    // A session of its own and a second fork: neither a signal to the test's
    // process group nor a kill of its process tree reaches the reaper.
    setsid();
    if (fork() != 0) _exit(0);
    // Descriptor 3 is the pipe, kept open across exec (dup2 onto itself
    // would keep close-on-exec, hence the fcntl).
    if (fds[0] != 3) dup2(fds[0], 3);
    fcntl(3, F_SETFD, 0);
    // Nothing else of the test process (sockets, log files) stays open in
    // the reaper.
    close_range(4, ~0U, 0);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  reaper_fd_ = fds[1];
  return absl::OkStatus();
}

absl::Status KubeEnv::Stop() {
  if (stopped_) return absl::OkStatus();
  stopped_ = true;
  // All clusters at once: stopping is mostly waiting for processes to exit.
  std::vector<std::unique_ptr<test::Subprocess>> stopping;
  std::string errors;
  for (const KubeCluster& cluster : clusters_) {
    test::SubprocessOptions options;
    options.program = std::string(PROPSY_KUBE_ENV_DIR) + "/stop-clusters.sh";
    options.args = {cluster.workdir};
    options.env = {{"KUBE_ENV_STOP_TIMEOUT", kStopTimeoutSeconds}};
    options.log_path = root_.File(fmt::format("stop-{}.log", cluster.zone));
    absl::StatusOr<std::unique_ptr<test::Subprocess>> process = test::Subprocess::Start(options);
    if (!process.ok()) {
      errors += std::string(process.status().message()) + "\n";
      continue;
    }
    stopping.push_back(std::move(*process));
  }
  for (const auto& process : stopping) {
    std::optional<int> status = process->Wait(120s);
    if (!status.has_value() || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      errors += fmt::format("{} {}: {}\n", process->log_path(),
                            status.has_value() ? process->DescribeExit() : "timed out",
                            test::TailLines(process->ReadLog(), 10));
    }
  }
  if (!errors.empty()) return absl::InternalError(errors);
  return absl::OkStatus();
}

absl::StatusOr<std::string> KubeEnv::RunScript(const std::string& script,
                                               const std::vector<std::string>& args,
                                               std::chrono::seconds timeout) {
  test::SubprocessOptions options;
  options.program = std::string(PROPSY_KUBE_ENV_DIR) + "/" + script;
  options.args = args;
  options.env = {{"KUBE_ENV_STOP_TIMEOUT", kStopTimeoutSeconds}};
  options.log_path = root_.File(fmt::format("command-{}.log", ++commands_));
  absl::StatusOr<test::RunResult> run = test::RunToCompletion(options, timeout);
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return absl::InternalError(fmt::format("{} {} failed ({}):\n{}", script, fmt::join(args, " "),
                                           run->exit_code, test::TailLines(run->output, 30)));
  }
  return run->output;
}

absl::StatusOr<std::string> KubeEnv::Kubectl(size_t i, const std::vector<std::string>& args) {
  test::SubprocessOptions options;
  options.program = PROPSY_KUBECTL_PATH;
  options.args = {"--kubeconfig", cluster(i).admin_kubeconfig, "--request-timeout=20s"};
  options.args.insert(options.args.end(), args.begin(), args.end());
  options.log_path = root_.File(fmt::format("command-{}.log", ++commands_));
  absl::StatusOr<test::RunResult> run = test::RunToCompletion(options, 60s);
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return absl::InternalError(fmt::format("kubectl {} (cluster {}) failed ({}): {}",
                                           fmt::join(args, " "), cluster(i).zone, run->exit_code,
                                           run->output));
  }
  return run->output;
}

absl::Status KubeEnv::Apply(size_t i, const std::string& yaml, bool validate) {
  const std::string manifest = root_.File(fmt::format("manifest-{}.yaml", ++commands_));
  {
    std::ofstream out(manifest, std::ios::trunc);
    out << yaml;
    if (!out) return absl::InternalError("cannot write " + manifest);
  }
  std::vector<std::string> args = {"apply", "-f", manifest};
  if (!validate) args.push_back("--validate=false");
  absl::StatusOr<std::string> applied = Kubectl(i, args);
  if (!applied.ok()) {
    return absl::InternalError(
        fmt::format("{}\nmanifest:\n{}", std::string(applied.status().message()), yaml));
  }
  return absl::OkStatus();
}

absl::Status KubeEnv::StopApiserver(size_t i) {
  return RunScript("stop-apiserver.sh", {cluster(i).workdir, "1"}, 60s).status();
}

absl::Status KubeEnv::StartApiserver(size_t i) {
  return RunScript("start-apiserver.sh", {cluster(i).workdir, "1"}, 120s).status();
}

absl::StatusOr<int64_t> KubeEnv::CompactEtcd(size_t i) {
  absl::StatusOr<std::string> output = RunScript("compact-etcd.sh", {cluster(i).workdir, "1"}, 60s);
  if (!output.ok()) return output.status();
  // The revision is the last line (curl and python print nothing else).
  const std::string text = Trim(*output);
  const size_t newline = text.rfind('\n');
  const std::string last = newline == std::string::npos ? text : text.substr(newline + 1);
  char* end = nullptr;
  const long long revision = std::strtoll(last.c_str(), &end, 10);
  if (end == last.c_str())
    return absl::InternalError("compact-etcd.sh printed no revision: " + text);
  return revision;
}

std::string KubeEnv::LogTails(size_t lines) const {
  std::string out;
  for (const KubeCluster& cluster : clusters_) {
    const std::string log = cluster.dir + "/logs/kube-apiserver.log";
    out += fmt::format("----- kube-apiserver of {} ({}) -----\n{}\n", cluster.zone, log,
                       test::TailLines(ReadFile(log), lines));
  }
  return out;
}

absl::StatusOr<std::string> EndpointAddress() {
  if (const char* forced = std::getenv("PROPSY_E2E_ENDPOINT_IP"); forced != nullptr && *forced) {
    return std::string(forced);
  }
  ifaddrs* addresses = nullptr;
  if (getifaddrs(&addresses) != 0) return absl::InternalError("getifaddrs failed");
  std::string found;
  for (ifaddrs* entry = addresses; entry != nullptr && found.empty(); entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
    if ((entry->ifa_flags & IFF_UP) == 0 || (entry->ifa_flags & IFF_LOOPBACK) != 0) continue;
    const in_addr address = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr)->sin_addr;
    const uint32_t host_order = ntohl(address.s_addr);
    if ((host_order >> 24) == 127 || (host_order >> 16) == 0xA9FE) continue;  // 169.254/16
    char text[INET_ADDRSTRLEN] = {0};
    inet_ntop(AF_INET, &address, text, sizeof(text));
    found = text;
  }
  freeifaddrs(addresses);
  if (found.empty()) {
    return absl::FailedPreconditionError(
        "no IPv4 address outside loopback and link-local on this machine: EndpointSlices cannot "
        "carry 127.0.0.1; set PROPSY_E2E_ENDPOINT_IP to a local address backends can bind");
  }
  return found;
}

absl::Status WriteKubeconfig(const std::string& path, const std::string& server,
                             const std::string& ca_path, const std::string& user_yaml) {
  const std::string text = fmt::format(
      "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n"
      "    certificate-authority: {}\nusers:\n- name: test\n  user:\n{}contexts:\n- name: test\n"
      "  context: {{cluster: test, user: test}}\ncurrent-context: test\n",
      server, ca_path, user_yaml);
  if (absl::Status written = WriteFileAtomically(path, text); !written.ok()) return written;
  chmod(path.c_str(), 0600);
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    if (!out) return absl::InternalError("cannot write " + temporary);
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) return absl::InternalError(fmt::format("rename to {}: {}", path, error.message()));
  return absl::OkStatus();
}

}  // namespace propsy::e2e
