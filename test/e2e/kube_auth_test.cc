// How propsy authenticates to a real API server besides a static token: an
// exec credential plugin, and a token file that is rewritten with another
// valid token while propsy runs (the new token must be used: the old one
// loses its rights before propsy has to reconnect).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "e2e/kube_e2e_fixture.h"
#include "e2e/tcp_forwarder.h"
#include "support/wait.h"

#ifndef PROPSY_EXEC_PLUGIN_PATH
#error "PROPSY_EXEC_PLUGIN_PATH must be defined by the build"
#endif

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string RandomToken() {
  std::random_device random;
  std::string token;
  for (int i = 0; i < 6; ++i) token += fmt::format("{:08x}", random());
  return token;
}

class KubeAuthTest : public KubePropsyTest {
 protected:
  // Backends web-v1 and web-v2, service web on port_ with its endpoints in
  // zone-a (slice web-a at web-v1).
  void WriteWeb() {
    v1_ = &AddKubeBackend("web-v1");
    v2_ = &AddKubeBackend("web-v2");
    port_ = FreePort();
    ServiceManifest web;
    web.name = "web";
    web.service = "web";
    web.listen_port = port_;
    Apply(kZoneA, Documents({ServiceYaml(web), Slice("web-a", "web", *v1_)}));
  }

  // Both sources of zone-a synced, fresh and without problems (a source
  // whose reflectors are still waiting out a backoff lists the failure).
  void ExpectZoneAHealthy() {
    std::string state;
    EXPECT_TRUE(test::WaitFor(
        [&] {
          state.clear();
          bool healthy = true;
          for (const char* role : {"config", "endpoint"}) {
            const SourceView source = Source(kZoneA, role);
            healthy = healthy && source.synced && !source.stale && source.problems.empty();
            state += fmt::format("{}: synced {}, stale {}, problems {}; ", role, source.synced,
                                 source.stale, testing::PrintToString(source.problems));
          }
          return healthy;
        },
        10s, 100ms))
        << state;
  }

  // Tokens of users outside system:masters (so RBAC decides what they may
  // do) in zone-a's static token file: user -> token. The API server reads
  // that file only at start, so it is restarted when a user is added.
  std::map<std::string, std::string> EnsureTokenUsers(const std::vector<std::string>& users) {
    const std::string path = kube().cluster(kZoneA).dir + "/tokens.csv";
    std::map<std::string, std::string> tokens;
    std::istringstream in(ReadFile(path));
    for (std::string line; std::getline(in, line);) {
      const size_t first = line.find(',');
      const size_t second = line.find(',', first + 1);
      if (first == std::string::npos || second == std::string::npos) continue;
      tokens[line.substr(first + 1, second - first - 1)] = line.substr(0, first);
    }
    bool added = false;
    std::ofstream out(path, std::ios::app);
    for (const std::string& user : users) {
      if (tokens.contains(user)) continue;
      tokens[user] = RandomToken();
      out << fmt::format("{},{},{}-uid\n", tokens[user], user, user);
      added = true;
    }
    out.close();
    EXPECT_TRUE(static_cast<bool>(out)) << "cannot append to " << path;
    if (added) {
      StopApiserver(kZoneA);
      StartApiserver(kZoneA);
    }
    return tokens;
  }

  // kubectl auth can-i list propsyservices as `user`: "yes" or "no".
  std::string CanList(const std::string& user) {
    absl::StatusOr<std::string> answer = kube().Kubectl(
        kZoneA, {"auth", "can-i", "list", "propsyservices.propsy.seznam.cz", "-A", "--as", user});
    if (answer.ok()) return std::string(absl::StripAsciiWhitespace(*answer));
    // kubectl exits 1 for "no".
    const std::string message(answer.status().message());
    return message.find("): no") != std::string::npos ? "no" : "error: " + message;
  }

  test::HttpBackend* v1_ = nullptr;
  test::HttpBackend* v2_ = nullptr;
  int port_ = 0;
};

// zone-a's kubeconfig has an exec plugin (kube_exec_credential.sh) that
// hands out the admin token: propsy runs it, lists, watches, and sees
// changes.
TEST_F(KubeAuthTest, ExecCredentialPlugin) {
  const std::string token_path = dir_.File("kube/exec-token");
  const std::string calls_path = dir_.File("kube/exec-calls");
  ASSERT_TRUE(WriteFileAtomically(token_path, kube().cluster(kZoneA).admin_token).ok());
  WriteZoneKubeconfig(kZoneA, kube().cluster(kZoneA).server(),
                      fmt::format("    exec:\n"
                                  "      apiVersion: client.authentication.k8s.io/v1\n"
                                  "      command: {}\n"
                                  "      args: [\"{}\", \"{}\"]\n"
                                  "      interactiveMode: Never\n",
                                  PROPSY_EXEC_PLUGIN_PATH, token_path, calls_path));
  ASSERT_NO_FATAL_FAILURE(WriteWeb());
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port_));
  Answer last;
  ASSERT_TRUE(WaitForBody(port_, "/", "web-v1", 20s, &last)) << last.status << " " << last.body;
  const std::string calls = ReadFile(calls_path);
  EXPECT_THAT(calls, testing::HasSubstr("call ")) << "the exec plugin never ran";
  EXPECT_THAT(calls, testing::HasSubstr("exec-info:present")) << calls;

  Apply(kZoneA, Slice("web-a", "web", *v2_));
  EXPECT_TRUE(WaitForBody(port_, "/", "web-v2", 15s, &last)) << last.status << " " << last.body;
  ExpectZoneAHealthy();
  std::cout << fmt::format("[auth] exec plugin calls: {}\n",
                           std::count(calls.begin(), calls.end(), '\n'));
}

// zone-a's kubeconfig has `tokenFile`. The file is rewritten with the token
// of another user, and the first user loses its rights; a cut of the
// connection then makes propsy list and watch anew, which only the new
// token may do. A change made meanwhile arrives.
TEST_F(KubeAuthTest, TokenFileRotation) {
  const std::map<std::string, std::string> tokens = EnsureTokenUsers({"propsy-old", "propsy-new"});
  ASSERT_FALSE(HasFatalFailure());
  std::string rbac =
      "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
      "metadata: {name: propsy-e2e-reader, labels: {propsy-e2e: \"true\"}}\n"
      "rules:\n"
      "- {apiGroups: [propsy.seznam.cz], resources: [propsyservices], verbs: [get, list, watch]}\n"
      "- {apiGroups: [\"\"], resources: [secrets, endpoints], verbs: [get, list, watch]}\n"
      "- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, "
      "watch]}\n"
      // What the status writer needs (deploy/kubernetes/rbac.yaml).
      "- {apiGroups: [propsy.seznam.cz], resources: [propsyservices/status], verbs: [patch]}\n"
      "- {apiGroups: [events.k8s.io], resources: [events], verbs: [create, get, patch]}\n"
      "- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, create, update]}\n"
      "- {apiGroups: [\"\"], resources: [configmaps], verbs: [list, create, update, delete]}\n";
  for (const char* user : {"propsy-old", "propsy-new"}) {
    rbac += fmt::format(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
        "metadata: {{name: {0}, labels: {{propsy-e2e: \"true\"}}}}\n"
        "roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "
        "propsy-e2e-reader}}\n"
        "subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {0}}}]\n",
        user);
  }
  Apply(kZoneA, rbac);
  ASSERT_TRUE(test::WaitFor([&] { return CanList("propsy-old") == "yes"; }, 15s));

  absl::StatusOr<std::unique_ptr<TcpForwarder>> forwarder =
      TcpForwarder::Start(kube().cluster(kZoneA).apiserver_port);
  ASSERT_TRUE(forwarder.ok()) << forwarder.status().ToString();
  const std::string token_path = dir_.File("kube/token");
  ASSERT_TRUE(WriteFileAtomically(token_path, tokens.at("propsy-old") + "\n").ok());
  WriteZoneKubeconfig(kZoneA, fmt::format("https://127.0.0.1:{}", (*forwarder)->port()),
                      fmt::format("    tokenFile: {}\n", token_path));
  ASSERT_NO_FATAL_FAILURE(WriteWeb());
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port_));
  Answer last;
  ASSERT_TRUE(WaitForBody(port_, "/", "web-v1", 20s, &last)) << last.status << " " << last.body;

  // Rotation: the new token in place, then the old user loses its rights.
  ASSERT_TRUE(WriteFileAtomically(token_path, tokens.at("propsy-new") + "\n").ok());
  Kubectl(kZoneA, {"delete", "clusterrolebinding", "propsy-old"});
  ASSERT_TRUE(test::WaitFor([&] { return CanList("propsy-old") == "no"; }, 15s));

  (*forwarder)->Cut();
  Apply(kZoneA, Slice("web-a", "web", *v2_));
  std::this_thread::sleep_for(2s);
  ASSERT_TRUE((*forwarder)->Restore().ok());
  const Clock::time_point back = Clock::now();
  EXPECT_TRUE(WaitForBody(port_, "/", "web-v2", 20s, &last))
      << "the change never arrived (still the old token?): " << last.status << " " << last.body
      << "\n"
      << Diagnostics();
  const int64_t arrived_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - back).count();
  std::cout << fmt::format("[auth] token file rotated; change arrived {} ms after reconnecting\n",
                           arrived_ms);
  ExpectZoneAHealthy();
  EXPECT_THAT(propsy_->process().ReadLog(), testing::Not(testing::HasSubstr("Forbidden")));
}

}  // namespace
}  // namespace propsy::e2e
