// Bad input and start-up of the propsy binary with `dir:` sources: a broken
// manifest or an invalid update never takes serving down and is reported on
// the admin pages; a missing source directory stops start-up with a message
// naming the flag; /readyz answers 200 once propsy serves.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include "e2e/propsy_e2e_fixture.h"
#include "support/subprocess.h"
#include "support/tls_probe.h"
#include "support/wait.h"

#ifndef PROPSY_BINARY_PATH
#error "PROPSY_BINARY_PATH must be defined by the build"
#endif

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;

std::string Str(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject() || !object.HasMember(key) || !object[key].IsString()) return "";
  return object[key].GetString();
}

// Every problem /debug/clusters lists, as "<cluster>/<role>: <problem>".
std::vector<std::string> ClusterProblems(const rapidjson::Document& clusters) {
  std::vector<std::string> problems;
  if (!clusters.IsArray()) return {"/debug/clusters is not a JSON array"};
  for (const rapidjson::Value& cluster : clusters.GetArray()) {
    if (!cluster.HasMember("problems") || !cluster["problems"].IsArray()) continue;
    for (const rapidjson::Value& problem : cluster["problems"].GetArray()) {
      problems.push_back(fmt::format("{}/{}: {}", Str(cluster, "name"), Str(cluster, "role"),
                                     problem.IsString() ? problem.GetString() : "?"));
    }
  }
  return problems;
}

// The condition `type` of `service` ("ns/name") on /debug/services as
// "Status Reason: message", or "" when absent.
std::string Condition(const rapidjson::Document& services, const std::string& service,
                      const std::string& type) {
  if (!services.IsArray()) return "";
  for (const rapidjson::Value& entry : services.GetArray()) {
    if (Str(entry, "service") != service || !entry.HasMember("conditions")) continue;
    for (const rapidjson::Value& condition : entry["conditions"].GetArray()) {
      if (Str(condition, "type") != type) continue;
      return fmt::format("{} {}: {}", Str(condition, "status"), Str(condition, "reason"),
                         Str(condition, "message"));
    }
  }
  return "";
}

std::string AcceptedCondition(const rapidjson::Document& services, const std::string& service) {
  return Condition(services, service, "Accepted");
}

class PropsyBadInputTest : public PropsyEnvoyTest {
 protected:
  // web ("/", backend web-a) and api ("/api/", backend api-a) on one port.
  void StartWebAndApi() {
    test::HttpBackend& web = AddHttpBackend("web-a");
    test::HttpBackend& api = AddHttpBackend("api-a");
    test::HttpBackend& next = AddHttpBackend("web-next");
    port_ = FreePort();
    web_.name = "web";
    web_.service = "web";
    web_.listen_port = port_;
    ServiceManifest api_service;
    api_service.name = "api";
    api_service.service = "api";
    api_service.listen_port = port_;
    api_service.path_prefix = "/api/";
    api_service.creation_timestamp = "2026-01-01T00:00:01Z";
    WriteConfig("zone-a", "web.yaml", ServiceYaml(web_));
    WriteConfig("zone-a", "api.yaml", ServiceYaml(api_service));
    auto slice = [](const std::string& name, const std::string& service, int port) {
      return SliceYaml({.name = name,
                        .service = service,
                        .port = port,
                        .port_name = "http",
                        .address = "127.0.0.1",
                        .ready = true});
    };
    WriteEndpoints("zone-a", "endpoints.yaml",
                   Documents({slice("web-a", "web", web.port()), slice("api-a", "api", api.port()),
                              slice("web-next", "web-next", next.port())}));
    ASSERT_NO_FATAL_FAILURE(StartAll());
    ASSERT_NO_FATAL_FAILURE(WaitForListener(port_));
    Answer last;
    ASSERT_TRUE(WaitForBody(port_, "/", "web-a", 20s, &last)) << last.status << " " << last.body;
    ASSERT_TRUE(WaitForBody(port_, "/api/x", "api-a", 20s, &last))
        << last.status << " " << last.body;
  }

  void ExpectBothServing() {
    EXPECT_EQ(CountBodies(port_, "/", 20), (std::map<std::string, int>{{"web-a", 20}}));
    EXPECT_EQ(CountBodies(port_, "/api/x", 20), (std::map<std::string, int>{{"api-a", 20}}));
  }

  int port_ = 0;
  ServiceManifest web_;
};

TEST_F(PropsyBadInputTest, MalformedManifestIsReportedAndServingContinues) {
  ASSERT_NO_FATAL_FAILURE(StartWebAndApi());
  const ListenerCounters before = ReadListenerCounters();
  // Line 4 opens a flow sequence that never closes.
  WriteConfig("zone-a", "broken.yaml",
              "apiVersion: propsy.seznam.cz/v1\n"
              "kind: ProPsyService\n"
              "metadata: {name: broken, namespace: shop}\n"
              "spec: [service: x,\n"
              "  listen: 1\n");
  std::vector<std::string> problems;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        absl::StatusOr<rapidjson::Document> clusters = ParseJson(PropsyGet("/debug/clusters"));
        if (!clusters.ok()) return false;
        problems = ClusterProblems(*clusters);
        return !problems.empty();
      },
      10s, 100ms))
      << "the broken file never showed on /debug/clusters\n"
      << Diagnostics();
  ASSERT_EQ(problems.size(), 1u) << testing::PrintToString(problems);
  EXPECT_THAT(problems[0], testing::StartsWith("zone-a/config: "));
  EXPECT_TRUE(std::regex_search(problems[0], std::regex(R"(broken\.yaml:[0-9]+)")))
      << "the problem names no file:line: " << problems[0];
  ExpectBothServing();

  // Fixing the file clears the problem, and its service is served.
  ServiceManifest fixed;
  fixed.name = "broken";
  fixed.service = "api";
  fixed.listen_port = port_;
  fixed.path_prefix = "/fixed/";
  fixed.creation_timestamp = "2026-01-01T00:00:02Z";
  WriteConfig("zone-a", "broken.yaml", ServiceYaml(fixed));
  ASSERT_TRUE(test::WaitFor(
      [&] {
        absl::StatusOr<rapidjson::Document> clusters = ParseJson(PropsyGet("/debug/clusters"));
        if (!clusters.ok()) return false;
        problems = ClusterProblems(*clusters);
        return problems.empty();
      },
      10s, 100ms))
      << "the problem stayed after the fix: " << testing::PrintToString(problems);
  Answer last;
  EXPECT_TRUE(WaitForBody(port_, "/fixed/y", "api-a", 15s, &last))
      << last.status << " " << last.body;
  ExpectBothServing();
  ExpectListenersUntouched(before);
}

TEST_F(PropsyBadInputTest, InvalidUpdateKeepsLastGoodVersion) {
  ASSERT_NO_FATAL_FAILURE(StartWebAndApi());
  const ListenerCounters before = ReadListenerCounters();
  absl::StatusOr<rapidjson::Document> services = ParseJson(PropsyGet("/debug/services"));
  ASSERT_TRUE(services.ok()) << services.status().ToString();
  EXPECT_THAT(AcceptedCondition(*services, "shop/web"), testing::StartsWith("True Accepted"));

  // The invalid version would also move traffic to web-next if it were used.
  ServiceManifest invalid = web_;
  invalid.percent = 150;
  invalid.service = "web-next";
  WriteConfig("zone-a", "web.yaml", ServiceYaml(invalid));
  std::string accepted;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        absl::StatusOr<rapidjson::Document> now = ParseJson(PropsyGet("/debug/services"));
        accepted = now.ok() ? AcceptedCondition(*now, "shop/web") : now.status().ToString();
        return accepted.starts_with("False Invalid");
      },
      10s, 100ms))
      << "never reported invalid; last: " << accepted << "\n"
      << Diagnostics();
  EXPECT_THAT(accepted, HasSubstr("spec.percent"));
  // Give a wrongly applied version time to reach Envoy before looking.
  std::this_thread::sleep_for(1500ms);
  ExpectBothServing();

  // A valid update is taken again.
  ServiceManifest valid = invalid;
  valid.percent = 100;
  WriteConfig("zone-a", "web.yaml", ServiceYaml(valid));
  Answer last;
  ASSERT_TRUE(WaitForBody(port_, "/", "web-next", 15s, &last)) << last.status << " " << last.body;
  services = ParseJson(PropsyGet("/debug/services"));
  ASSERT_TRUE(services.ok()) << services.status().ToString();
  EXPECT_THAT(AcceptedCondition(*services, "shop/web"), testing::StartsWith("True Accepted"));
  ExpectListenersUntouched(before);
}

// A TLS listener whose Secret is missing is not served at all (never
// plaintext instead); once the Secret appears, it serves TLS.
TEST_F(PropsyBadInputTest, TlsListenerWaitsForItsSecret) {
  ASSERT_NO_FATAL_FAILURE(StartWebAndApi());
  const int secure_port = FreePort();
  ServiceManifest secure;
  secure.name = "web-secure";
  secure.service = "web";
  secure.listen_port = secure_port;
  secure.tls_secret = "web-tls";
  secure.creation_timestamp = "2026-01-01T00:00:03Z";
  WriteConfig("zone-a", "secure.yaml", ServiceYaml(secure));
  std::string resolved;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        absl::StatusOr<rapidjson::Document> now = ParseJson(PropsyGet("/debug/services"));
        resolved =
            now.ok() ? Condition(*now, "shop/web-secure", "ResolvedRefs") : now.status().ToString();
        return resolved.starts_with("False");
      },
      10s, 100ms))
      << "ResolvedRefs never turned False; last: " << resolved << "\n"
      << Diagnostics();
  EXPECT_THAT(resolved, HasSubstr("web-tls"));
  // Give a wrongly served listener time to reach Envoy before looking.
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(envoy_->ListenerPort(ListenerName(secure_port)).ok())
      << "a TLS listener without its certificate is served";
  EXPECT_EQ(HttpGet(secure_port, "/").status, 0) << "plaintext on the TLS port";
  ExpectBothServing();

  auto cert = MakeSelfSignedCert(dir_.path().string(), "secure.test");
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  WriteConfig("zone-a", "tls.yaml", TlsSecretYaml("web-tls", cert->cert, cert->key));
  ASSERT_NO_FATAL_FAILURE(WaitForListener(secure_port));
  absl::StatusOr<test::TlsProbeResult> probe = absl::UnknownError("not probed");
  ASSERT_TRUE(test::WaitFor(
      [&] {
        probe = test::ProbeTls(secure_port, "secure.test", "/");
        return probe.ok() && probe->http_response.ends_with("web-a");
      },
      15s, 200ms))
      << (probe.ok() ? probe->http_response : probe.status().ToString());
  EXPECT_EQ(probe->subject_cn, "secure.test");
  absl::StatusOr<rapidjson::Document> services = ParseJson(PropsyGet("/debug/services"));
  ASSERT_TRUE(services.ok()) << services.status().ToString();
  EXPECT_THAT(Condition(*services, "shop/web-secure", "ResolvedRefs"), testing::StartsWith("True"));
}

// A missing directory of the local zone's endpoint cluster: propsy refuses to
// start and says which flag is wrong.
TEST_F(PropsyEnvoyTest, MissingEndpointDirectoryFailsStartup) {
  for (const ZoneLayout& zone : zones_) std::filesystem::create_directories(ConfigDir(zone.name));
  std::filesystem::create_directories(EndpointDir("zone-b"));
  test::SubprocessOptions options;
  options.program = PROPSY_BINARY_PATH;
  options.args = PropsyArgs();
  options.args.push_back("-listenhealth");
  options.args.push_back(fmt::format("127.0.0.1:{}", admin_port_));
  options.log_path = dir_.File("propsy-missing.log");
  absl::StatusOr<test::RunResult> run = test::RunToCompletion(options, 20s);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_NE(run->exit_code, 0) << run->output;
  EXPECT_THAT(run->output, HasSubstr("-endpointcluster"));
  EXPECT_THAT(run->output, HasSubstr(EndpointDir("zone-a")));
}

// /readyz is 200 once propsy serves: every cluster synced, the node's
// configuration ready, and Envoy gets it.
TEST_F(PropsyEnvoyTest, ReadyOnceServing) {
  test::HttpBackend& web = AddHttpBackend("web-a");
  const int port = FreePort();
  ServiceManifest service;
  service.name = "web";
  service.service = "web";
  service.listen_port = port;
  WriteConfig("zone-a", "web.yaml", ServiceYaml(service));
  WriteEndpoints("zone-a", "web.yaml",
                 SliceYaml({.name = "web-a",
                            .service = "web",
                            .port = web.port(),
                            .port_name = "http",
                            .address = "127.0.0.1",
                            .ready = true}));
  ASSERT_NO_FATAL_FAILURE(StartPropsy());

  absl::StatusOr<test::AdminAnswer> answer = propsy_->AdminGet("/readyz");
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->status, 200) << answer->body;
  answer = propsy_->AdminGet("/healthz");
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->status, 200) << answer->body;

  absl::StatusOr<rapidjson::Document> clusters = ParseJson(PropsyGet("/debug/clusters"));
  ASSERT_TRUE(clusters.ok()) << clusters.status().ToString();
  ASSERT_TRUE(clusters->IsArray());
  EXPECT_EQ(clusters->Size(), 2 * zones_.size()) << "one config and one endpoint cluster per zone";
  for (const rapidjson::Value& cluster : clusters->GetArray()) {
    EXPECT_TRUE(cluster["synced"].GetBool()) << Str(cluster, "name");
    EXPECT_FALSE(cluster["stale"].GetBool()) << Str(cluster, "name");
  }
  EXPECT_THAT(ClusterProblems(*clusters), testing::IsEmpty());

  const std::string dump = PropsyGet(fmt::format("/debug/config_dump?node={}", kNodeId));
  absl::StatusOr<rapidjson::Document> parsed = ParseJson(dump);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_TRUE(parsed->IsObject() && parsed->HasMember("ready"));
  EXPECT_TRUE((*parsed)["ready"].GetBool());
  EXPECT_THAT(dump, HasSubstr(fmt::format("\"{}\"", ListenerName(port))));
  EXPECT_THAT(dump, HasSubstr("\"shop/web/primary\""));

  ASSERT_NO_FATAL_FAILURE(StartEnvoy());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));
  Answer last;
  ASSERT_TRUE(WaitForBody(port, "/", "web-a", 20s, &last)) << last.status << " " << last.body;
  absl::StatusOr<double> acks = propsy_->MetricSum("propsy_xds_acks_total");
  ASSERT_TRUE(acks.ok()) << acks.status().ToString();
  EXPECT_GT(*acks, 0);
}

}  // namespace
}  // namespace propsy::e2e
