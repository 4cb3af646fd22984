// The shipped image and manifests on a real API server: `kubectl apply -k
// deploy/kubernetes` (checked with --dry-run=server first), then the
// image's own propsy (its root filesystem unpacked from the OCI archive, run
// with chroot as the image's user) in `incluster` mode with a token of the
// shipped ServiceAccount from `kubectl create token`, the cluster CA and the
// namespace written where a pod has them, and KUBERNETES_SERVICE_HOST/PORT
// set. It must sync with no "forbidden" anywhere and serve a real Envoy:
// the shipped RBAC is enough. A second case removes one rule of the shipped
// ClusterRole (chosen from the rendered manifests, not from a list here)
// and expects propsy to name the forbidden resource in its log and in
// /debug/clusters.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "e2e/kube_e2e_fixture.h"
#include "support/subprocess.h"
#include "support/wait.h"

#ifndef PROPSY_IMAGE_ARCHIVE
#error "PROPSY_IMAGE_ARCHIVE must be defined by the build"
#endif
#ifndef PROPSY_UNPACK_IMAGE
#error "PROPSY_UNPACK_IMAGE must be defined by the build"
#endif
#ifndef PROPSY_KUSTOMIZE_DIR
#error "PROPSY_KUSTOMIZE_DIR must be defined by the build"
#endif
#ifndef PROPSY_VERSION
#error "PROPSY_VERSION must be defined by the build"
#endif

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::Not;

constexpr char kServiceAccountDir[] = "var/run/secrets/kubernetes.io/serviceaccount";

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string Str(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject() || !object.HasMember(key) || !object[key].IsString()) return "";
  return object[key].GetString();
}

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

bool Contains(const rapidjson::Value& strings, const std::string& wanted) {
  if (!strings.IsArray()) return false;
  for (const rapidjson::Value& s : strings.GetArray()) {
    if (s.IsString() && wanted == s.GetString()) return true;
  }
  return false;
}

// Seconds of a Go duration of whole seconds or milliseconds ("10s",
// "2500ms"); -1 if it is neither.
double GoDurationSeconds(const std::string& text) {
  if (text.ends_with("ms")) return std::stod(text.substr(0, text.size() - 2)) / 1000;
  if (text.ends_with("s")) return std::stod(text.substr(0, text.size() - 1));
  return -1;
}

class ImageInClusterTest : public KubePropsyTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(KubePropsyTest::SetUp());
    ASSERT_EQ(geteuid(), 0u) << "running the image's root filesystem needs chroot (root)";
    ASSERT_TRUE(std::filesystem::exists(PROPSY_IMAGE_ARCHIVE))
        << PROPSY_IMAGE_ARCHIVE << " is missing: scripts/build-image.sh builds it";
    test::SubprocessOptions unpack{.program = PROPSY_UNPACK_IMAGE,
                                   .args = {PROPSY_IMAGE_ARCHIVE, dir_.File("image")},
                                   .env = {},
                                   .log_path = dir_.File("unpack.log")};
    absl::StatusOr<test::RunResult> unpacked = test::RunToCompletion(unpack, 120s);
    ASSERT_TRUE(unpacked.ok() && unpacked->exit_code == 0)
        << (unpacked.ok() ? unpacked->output : unpacked.status().ToString());
    root_ = dir_.File("image/rootfs");
  }

  // kubectl apply -k of the shipped manifests into zone-a's cluster, after
  // a server-side dry run of the same (the namespace exists first, so the
  // dry run checks the namespaced objects too). Reads the rendered
  // Deployment and ClusterRole back.
  void ApplyShippedManifests() {
    // (It may exist already when tests share the clusters.)
    (void)kube().Kubectl(kZoneA, {"create", "namespace", "propsy-system"});
    const std::string dry_run =
        Kubectl(kZoneA, {"apply", "--dry-run=server", "-k", PROPSY_KUSTOMIZE_DIR});
    EXPECT_THAT(dry_run, HasSubstr("(server dry run)"));
    const std::string applied = Kubectl(kZoneA, {"apply", "-k", PROPSY_KUSTOMIZE_DIR});
    std::cout << "[image] kubectl apply -k deploy/kubernetes:\n" << applied;
    ASSERT_FALSE(HasFailure());
    Kubectl(kZoneA, {"wait", "--for", "condition=established", "--timeout=60s",
                     "crd/propsyservices.propsy.seznam.cz"});
    absl::StatusOr<rapidjson::Document> deployment = ParseJson(
        Kubectl(kZoneA, {"get", "deployment", "-n", "propsy-system", "propsy", "-o", "json"}));
    ASSERT_TRUE(deployment.ok()) << deployment.status().ToString();
    deployment_.CopyFrom(*deployment, deployment_.GetAllocator());
  }

  const rapidjson::Value& PodSpec() const { return deployment_["spec"]["template"]["spec"]; }
  const rapidjson::Value& Container() const { return PodSpec()["containers"][0]; }

  std::vector<std::string> ContainerArgs() const {
    std::vector<std::string> args;
    for (const rapidjson::Value& arg : Container()["args"].GetArray()) {
      args.emplace_back(arg.GetString());
    }
    return args;
  }

  // The service account's token, the cluster CA and the namespace, where a
  // pod has them.
  void WriteServiceAccount() {
    const std::string account = Str(PodSpec(), "serviceAccountName");
    ASSERT_FALSE(account.empty());
    std::string token =
        Kubectl(kZoneA, {"create", "token", account, "-n", "propsy-system", "--duration=1h"});
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
      token.pop_back();
    }
    ASSERT_FALSE(token.empty());
    const std::filesystem::path dir = std::filesystem::path(root_) / kServiceAccountDir;
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(kube().cluster(kZoneA).ca_path, dir / "ca.crt",
                               std::filesystem::copy_options::overwrite_existing);
    std::ofstream(dir / "token") << token;
    std::ofstream(dir / "namespace") << "propsy-system";
    for (const char* file : {"ca.crt", "token", "namespace"}) {
      ASSERT_EQ(chown((dir / file).c_str(), 65532, 65532), 0);
    }
  }

  // Starts the image's entrypoint in the image's root as the image's user,
  // with the Deployment's arguments (the listen addresses moved to free
  // ports on 127.0.0.1) and the environment of a pod.
  void StartImagePropsy(bool wait_ready) {
    std::vector<std::string> args = {
        "KUBERNETES_SERVICE_HOST=127.0.0.1",
        fmt::format("KUBERNETES_SERVICE_PORT={}", kube().cluster(kZoneA).apiserver_port),
        "chroot",
        "--userspec=65532:65532",
        root_,
        "/usr/local/bin/propsy"};
    for (const std::string& arg : ContainerArgs()) {
      if (arg.starts_with("-listen=") || arg.starts_with("-listenhealth=")) continue;
      args.push_back(arg);
    }
    args.push_back(fmt::format("-listen=127.0.0.1:{}", xds_port_));
    args.push_back("-debug");
    test::PropsyProcessOptions options;
    options.binary = "/usr/bin/env";
    options.args = args;
    options.admin_port = admin_port_;
    options.log_path = dir_.File("propsy.log");
    auto started = test::PropsyProcess::Start(options);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    propsy_ = std::move(*started);
    if (!wait_ready) return;
    absl::Status ready = propsy_->WaitReady(30s);
    ASSERT_TRUE(ready.ok()) << ready.ToString() << "\n" << propsy_->LogTail();
  }

  // The zone the shipped Deployment names (-zone=...).
  std::string DeploymentZone() const {
    for (const std::string& arg : ContainerArgs()) {
      if (arg.starts_with("-zone=")) return arg.substr(6);
    }
    return "";
  }

  rapidjson::Document deployment_;
  std::string root_;
};

TEST_F(ImageInClusterTest, ShippedManifestsAndRbacAreEnoughForTheImage) {
  ASSERT_NO_FATAL_FAILURE(ApplyShippedManifests());

  // What the Deployment promises (SPEC §6).
  EXPECT_EQ(Str(Container(), "image"), fmt::format("propsy:{}", PROPSY_VERSION))
      << "deploy/kubernetes/kustomization.yaml must tag the image as scripts/build-image.sh "
         "does (CMake's project VERSION)";
  EXPECT_EQ(deployment_["spec"]["replicas"].GetInt(), 2);
  EXPECT_EQ(Str(Container()["readinessProbe"]["httpGet"], "path"), "/readyz");
  EXPECT_EQ(Str(Container()["livenessProbe"]["httpGet"], "path"), "/healthz");
  EXPECT_TRUE(Container()["resources"].HasMember("requests"));
  EXPECT_TRUE(Container()["resources"].HasMember("limits"));
  const rapidjson::Value& security = Container()["securityContext"];
  EXPECT_TRUE(security["readOnlyRootFilesystem"].GetBool());
  EXPECT_FALSE(security["allowPrivilegeEscalation"].GetBool());
  EXPECT_TRUE(Contains(security["capabilities"]["drop"], "ALL"));
  EXPECT_TRUE(PodSpec()["securityContext"]["runAsNonRoot"].GetBool());
  EXPECT_EQ(PodSpec()["securityContext"]["runAsUser"].GetInt(), 65532);
  double drain_seconds = 10;  // propsy's default
  for (const std::string& arg : ContainerArgs()) {
    if (arg.starts_with("-drainperiod=")) drain_seconds = GoDurationSeconds(arg.substr(13));
  }
  EXPECT_GT(PodSpec()["terminationGracePeriodSeconds"].GetInt(), drain_seconds);
  EXPECT_THAT(Kubectl(kZoneA, {"get", "pdb", "-n", "propsy-system", "-o", "name"}),
              HasSubstr("poddisruptionbudget"));
  EXPECT_THAT(Kubectl(kZoneA, {"get", "service", "-n", "propsy-system", "propsy", "-o",
                               "jsonpath={.spec.ports[*].port}"}),
              HasSubstr("8888"));

  // A service in the cluster, served by the image's propsy to a real Envoy.
  const int port = ApplyWebService(AddKubeBackend("web-zone-a"));
  ASSERT_NO_FATAL_FAILURE(WriteServiceAccount());
  ASSERT_NO_FATAL_FAILURE(StartImagePropsy(/*wait_ready=*/true));
  ASSERT_NO_FATAL_FAILURE(StartEnvoy());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));
  EXPECT_TRUE(WaitForBody(port, "/", "web-zone-a", 30s)) << Diagnostics();
  EXPECT_EQ(CountBodies(port, "/", 50)["web-zone-a"], 50);

  // It runs as the image's user, and nothing was forbidden.
  std::ifstream status(fmt::format("/proc/{}/status", propsy_->process().pid()));
  std::string line;
  std::string uid_line;
  while (std::getline(status, line)) {
    if (line.starts_with("Uid:")) uid_line = line;
  }
  EXPECT_THAT(uid_line, testing::StartsWith("Uid:\t65532\t"));
  EXPECT_THAT(Lower(propsy_->process().ReadLog()), Not(HasSubstr("forbidden")));
  const std::string clusters = PropsyGet("/debug/clusters");
  EXPECT_THAT(Lower(clusters), Not(HasSubstr("forbidden")));
  EXPECT_THAT(clusters, Not(HasSubstr("\"stale\":true")));
  std::cout << fmt::format("[image] propsy {} from the image, zone {}, served Envoy as uid 65532\n",
                           PROPSY_VERSION, DeploymentZone());
}

TEST_F(ImageInClusterTest, ARemovedRuleIsNamedAsForbidden) {
  ASSERT_NO_FATAL_FAILURE(ApplyShippedManifests());
  // The shipped ClusterRole's first rule that lets propsy watch something:
  // taken from what was applied, so new rules do not need this test changed.
  absl::StatusOr<rapidjson::Document> role =
      ParseJson(Kubectl(kZoneA, {"get", "clusterrole", "propsy", "-o", "json"}));
  ASSERT_TRUE(role.ok()) << role.status().ToString();
  rapidjson::Value& rules = (*role)["rules"];
  std::string resource;
  for (rapidjson::SizeType i = 0; i < rules.Size(); ++i) {
    if (Contains(rules[i]["verbs"], "watch") && Contains(rules[i]["verbs"], "list")) {
      resource = rules[i]["resources"][0].GetString();
      std::cout << "[image] removing rule " << ToJson(rules[i]) << "\n";
      rules.Erase(rules.Begin() + i);
      break;
    }
  }
  ASSERT_FALSE(resource.empty()) << "the shipped ClusterRole grants no list+watch";
  (*role)["metadata"].RemoveMember("resourceVersion");
  const std::string replaced = dir_.File("clusterrole.json");
  std::ofstream(replaced) << ToJson(*role);
  Kubectl(kZoneA, {"replace", "-f", replaced});
  const std::string subject =
      "system:serviceaccount:propsy-system:" + Str(PodSpec(), "serviceAccountName");
  ASSERT_TRUE(test::WaitFor(
      [&] {
        absl::StatusOr<std::string> can = kube().Kubectl(
            kZoneA, {"auth", "can-i", "list", resource, "--all-namespaces", "--as", subject});
        return !can.ok() && can.status().message().find("no") != std::string_view::npos;
      },
      20s))
      << "the rule removal did not take effect";

  ASSERT_NO_FATAL_FAILURE(WriteServiceAccount());
  ASSERT_NO_FATAL_FAILURE(StartImagePropsy(/*wait_ready=*/false));
  std::string clusters;
  const bool named = test::WaitFor(
      [&] {
        const std::string log = Lower(propsy_->process().ReadLog());
        absl::StatusOr<test::AdminAnswer> page = propsy_->AdminGet("/debug/clusters");
        clusters = page.ok() ? page->body : "";
        return log.find("forbidden") != std::string::npos &&
               log.find(resource) != std::string::npos &&
               Lower(clusters).find("forbidden") != std::string::npos &&
               clusters.find(resource) != std::string::npos;
      },
      30s);
  EXPECT_TRUE(named) << "propsy did not name \"" << resource
                     << "\" as forbidden\n/debug/clusters: " << clusters << "\n"
                     << propsy_->LogTail();
  std::vector<std::string> lines = propsy_->process().LogLinesContaining({"forbidden"});
  if (!lines.empty()) std::cout << "[image] log: " << lines.front() << "\n";
  // Without its ProPsyServices or endpoints the local zone never syncs.
  absl::StatusOr<test::AdminAnswer> ready = propsy_->AdminGet("/readyz");
  EXPECT_TRUE(ready.ok() && ready->status == 503);
  propsy_->process().Terminate();
  propsy_.reset();
}

}  // namespace
}  // namespace propsy::e2e
