// SPEC §3's Endpoints fallback on a real API server that serves
// EndpointSlices: the original product's own hand-written core/v1 Endpoints
// (no Service object, so no controller mirrors them into slices) give a
// service its primary and canary endpoints; a service that has slices uses
// them and not its Endpoints; a dir: source holding the same objects gives
// the same endpoints; -legacyendpoints=false stops reading Endpoints there.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "e2e/kube_e2e_fixture.h"
#include "support/propsy_process.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::Not;

// core/v1 Endpoints `name` with one address, the port named "http".
std::string EndpointsYaml(const std::string& name, const std::string& ip, int port) {
  return fmt::format(
      "apiVersion: v1\nkind: Endpoints\nmetadata: {{name: {}, namespace: {}}}\n"
      "subsets:\n- addresses: [{{ip: \"{}\"}}]\n  ports: [{{name: http, port: {}, protocol: "
      "TCP}}]\n",
      name, kNamespace, ip, port);
}

class KubeEndpointsTest : public KubePropsyTest {
 protected:
  // Starts another propsy (no Envoy) with `args` and waits for /readyz.
  std::unique_ptr<test::PropsyProcess> StartOther(const std::string& name,
                                                  std::vector<std::string> args) {
    test::PropsyProcessOptions options;
    options.binary = PROPSY_BINARY_PATH;
    options.args = std::move(args);
    options.admin_port = FreePort();
    options.log_path = dir_.File(name + ".log");
    auto started = test::PropsyProcess::Start(options);
    EXPECT_TRUE(started.ok()) << started.status().ToString();
    if (!started.ok()) return nullptr;
    absl::Status ready = (*started)->WaitReady(30s);
    EXPECT_TRUE(ready.ok()) << name << ": " << ready.ToString() << "\n" << (*started)->LogTail();
    return std::move(*started);
  }

  // The node's load assignments on `propsy`'s /debug/config_dump: cluster
  // name -> the assignment as JSON text.
  static std::map<std::string, std::string> LoadAssignments(const test::PropsyProcess& propsy) {
    std::map<std::string, std::string> assignments;
    absl::StatusOr<test::AdminAnswer> answer =
        propsy.AdminGet(fmt::format("/debug/config_dump?node={}", kNodeId));
    if (!answer.ok() || answer->status != 200) return assignments;
    absl::StatusOr<rapidjson::Document> dump = ParseJson(answer->body);
    if (!dump.ok() || !dump->HasMember("types")) return assignments;
    for (const rapidjson::Value& resource : (*dump)["types"]["endpoint"]["resources"].GetArray()) {
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      resource.Accept(writer);
      assignments[resource["cluster_name"].GetString()] = buffer.GetString();
    }
    return assignments;
  }

  std::string Port(const test::HttpBackend& backend) const {
    return fmt::format("\"port_value\":{}", backend.port());
  }
};

TEST_F(KubeEndpointsTest, HandWrittenEndpointsServeAsFromADirSource) {
  test::HttpBackend& legacy = AddKubeBackend("legacy");
  test::HttpBackend& legacy_canary = AddKubeBackend("legacy-canary");
  test::HttpBackend& sliced = AddKubeBackend("mixed-slice");
  test::HttpBackend& unused = AddKubeBackend("mixed-endpoints");
  const int legacy_port = FreePort();
  const int mixed_port = FreePort();
  ServiceManifest legacy_service;
  legacy_service.name = "legacy";
  legacy_service.service = "legacy";
  legacy_service.listen_port = legacy_port;
  legacy_service.canary_service = "legacy-canary";
  legacy_service.canary_percent = 20;
  ServiceManifest mixed_service;
  mixed_service.name = "mixed";
  mixed_service.service = "mixed";
  mixed_service.listen_port = mixed_port;
  // The same objects for the API server and for the dir: source.
  const std::string objects = Documents({
      ServiceYaml(legacy_service),
      ServiceYaml(mixed_service),
      EndpointsYaml("legacy", endpoint_ip(), legacy.port()),
      EndpointsYaml("legacy-canary", endpoint_ip(), legacy_canary.port()),
      EndpointsYaml("mixed", endpoint_ip(), unused.port()),
      Slice("mixed-1", "mixed", sliced),
  });
  Apply(kZoneA, objects);
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(legacy_port));
  ASSERT_NO_FATAL_FAILURE(WaitForListener(mixed_port));

  // Real traffic: the Endpoints-only service has its primary and canary.
  EXPECT_TRUE(WaitForEnvoyHosts("shop/legacy/primary", {HostOf(legacy)}, 20s))
      << testing::PrintToString(EnvoyHosts("shop/legacy/primary")) << "\n"
      << Diagnostics();
  EXPECT_TRUE(WaitForEnvoyHosts("shop/legacy/canary", {HostOf(legacy_canary)}, 20s))
      << testing::PrintToString(EnvoyHosts("shop/legacy/canary"));
  EXPECT_TRUE(WaitForEnvoyHosts("shop/mixed/primary", {HostOf(sliced)}, 20s))
      << testing::PrintToString(EnvoyHosts("shop/mixed/primary"));
  std::map<std::string, int> bodies = CountBodies(legacy_port, "/", 240);
  EXPECT_GT(bodies["legacy"], 150) << testing::PrintToString(bodies);
  EXPECT_GT(bodies["legacy-canary"], 15) << testing::PrintToString(bodies);
  EXPECT_EQ(bodies["legacy"] + bodies["legacy-canary"], 240) << testing::PrintToString(bodies);
  Answer last;
  EXPECT_TRUE(WaitForBody(mixed_port, "/", "mixed-slice", 10s, &last)) << last.body;
  EXPECT_THAT(propsy_->process().ReadLog(),
              HasSubstr("service shop/legacy has no EndpointSlice here; using its core/v1 "
                        "Endpoints"));
  EXPECT_THAT(propsy_->process().ReadLog(), Not(HasSubstr("service shop/mixed has no")));

  // A dir: source with the same objects gives the same load assignments.
  const std::filesystem::path tree = dir_.File("dir-sources");
  std::filesystem::create_directories(tree / "zone-a");
  std::filesystem::create_directories(tree / "zone-b");
  WriteFile((tree / "zone-a").string(), "objects.yaml", objects);
  std::vector<std::string> dir_args = {"-listen", fmt::format("127.0.0.1:{}", FreePort()), "-zone",
                                       ZoneName(kZoneA)};
  for (const char* zone : {"zone-a", "zone-b"}) {
    dir_args.insert(dir_args.end(),
                    {"-configcluster", fmt::format("dir:{}:{}", (tree / zone).string(), zone)});
  }
  dir_args.insert(dir_args.end(),
                  {"-endpointcluster", fmt::format("dir:{}:zone-a:0", (tree / "zone-a").string()),
                   "-endpointcluster", fmt::format("dir:{}:zone-b:1", (tree / "zone-b").string())});
  std::unique_ptr<test::PropsyProcess> from_dir = StartOther("propsy-dir", dir_args);
  ASSERT_NE(from_dir, nullptr);
  const std::map<std::string, std::string> kube_assignments = LoadAssignments(*propsy_);
  const std::map<std::string, std::string> dir_assignments = LoadAssignments(*from_dir);
  ASSERT_TRUE(kube_assignments.contains("shop/legacy/primary"))
      << testing::PrintToString(kube_assignments);
  EXPECT_EQ(kube_assignments, dir_assignments);
  EXPECT_THAT(kube_assignments.at("shop/legacy/primary"), HasSubstr(Port(legacy)));
  EXPECT_THAT(kube_assignments.at("shop/legacy/canary"), HasSubstr(Port(legacy_canary)));
  EXPECT_THAT(kube_assignments.at("shop/mixed/primary"), HasSubstr(Port(sliced)));
  EXPECT_THAT(kube_assignments.at("shop/mixed/primary"), Not(HasSubstr(Port(unused))));
  EXPECT_THAT(from_dir->process().ReadLog(),
              HasSubstr("service shop/legacy has no EndpointSlice here; using its core/v1 "
                        "Endpoints"));

  // -legacyendpoints=false: Endpoints are not read where slices are served,
  // so the Endpoints-only service has an empty primary and no canary.
  std::vector<std::string> no_legacy_args = KubePropsyArgs();
  no_legacy_args[1] = fmt::format("127.0.0.1:{}", FreePort());  // -listen
  no_legacy_args.push_back("-legacyendpoints=false");
  std::unique_ptr<test::PropsyProcess> no_legacy = StartOther("propsy-no-legacy", no_legacy_args);
  ASSERT_NE(no_legacy, nullptr);
  const std::map<std::string, std::string> without = LoadAssignments(*no_legacy);
  ASSERT_TRUE(without.contains("shop/legacy/primary")) << testing::PrintToString(without);
  EXPECT_THAT(without.at("shop/legacy/primary"), Not(HasSubstr("port_value")));
  EXPECT_FALSE(without.contains("shop/legacy/canary"));
  EXPECT_EQ(without.at("shop/mixed/primary"), kube_assignments.at("shop/mixed/primary"));
}

}  // namespace
}  // namespace propsy::e2e
