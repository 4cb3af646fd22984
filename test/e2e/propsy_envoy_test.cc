// The propsy binary with `dir:` sources driving a real Envoy: HTTP path
// routing with prefix rewrite, TCP proxying, TLS over SDS with certificate
// rotation, and priority failover between zones. Every test ends with the
// fixture's zero-NACK checks on both sides.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "e2e/propsy_e2e_fixture.h"
#include "support/tls_probe.h"
#include "support/wait.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using testing::Each;
using testing::HasSubstr;

using PropsyEnvoyRoutingTest = PropsyEnvoyTest;

// Two HTTP services on one listen address: "/" and "/api/" (rewritten to
// "/"). Each path reaches its own backend, and the backend sees the
// rewritten path.
TEST_F(PropsyEnvoyRoutingTest, PathRoutingWithPrefixRewrite) {
  test::HttpBackend& web = AddHttpBackend("web-a");
  test::HttpBackend& api = AddHttpBackend("api-a");
  const int port = FreePort();
  ServiceManifest web_service;
  web_service.name = "web";
  web_service.service = "web";
  web_service.listen_port = port;
  ServiceManifest api_service;
  api_service.name = "api";
  api_service.service = "api";
  api_service.listen_port = port;
  api_service.path_prefix = "/api/";
  api_service.prefix_rewrite = "/";
  api_service.creation_timestamp = "2026-01-01T00:00:01Z";
  WriteConfig("zone-a", "services.yaml",
              Documents({ServiceYaml(web_service), ServiceYaml(api_service)}));
  WriteEndpoints("zone-a", "endpoints.yaml",
                 Documents({SliceYaml({.name = "web-a",
                                       .service = "web",
                                       .port = web.port(),
                                       .port_name = "http",
                                       .address = "127.0.0.1",
                                       .ready = true}),
                            SliceYaml({.name = "api-a",
                                       .service = "api",
                                       .port = api.port(),
                                       .port_name = "http",
                                       .address = "127.0.0.1",
                                       .ready = true})}));
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));

  Answer last;
  ASSERT_TRUE(WaitForBody(port, "/api/users", "api-a", 20s, &last))
      << last.status << " " << last.body;
  ASSERT_TRUE(WaitForBody(port, "/hello", "web-a", 20s, &last)) << last.status << " " << last.body;
  EXPECT_EQ(HttpGet(port, "/api/").body, "api-a");
  EXPECT_EQ(HttpGet(port, "/").body, "web-a");
  // "/apix" does not match the "/api/" prefix: it is web's.
  EXPECT_EQ(HttpGet(port, "/apix").body, "web-a");

  // The rewrite replaced "/api/" by "/"; web's paths arrive untouched.
  EXPECT_THAT(api.paths(), Each(testing::AnyOf("/users", "/")));
  EXPECT_THAT(api.paths(), testing::Contains("/users"));
  EXPECT_THAT(web.paths(), testing::Contains("/hello"));
  EXPECT_THAT(web.paths(), testing::Contains("/apix"));
  for (const std::string& path : web.paths()) EXPECT_FALSE(path.starts_with("/api/")) << path;
  // Routes came over RDS (so the teardown's zero-rejection check covers it).
  absl::StatusOr<std::map<std::string, int64_t>> rds = envoy_->Stats("\\.rds\\..*update_success$");
  ASSERT_TRUE(rds.ok()) << rds.status().ToString();
  EXPECT_EQ(rds->size(), 1u) << "one route configuration for the one listener";
  for (const auto& [name, value] : *rds) EXPECT_GE(value, 1) << name;
}

// A TCP service: Envoy proxies bytes to a backend that greets with its name
// and echoes.
TEST_F(PropsyEnvoyRoutingTest, TcpProxying) {
  test::TcpBackend& db = AddTcpBackend("db-a");
  const int port = FreePort();
  ServiceManifest service;
  service.name = "db";
  service.service = "db";
  service.listen_port = port;
  service.type = "TCP";
  service.port_name = "postgres";
  WriteConfig("zone-a", "db.yaml", ServiceYaml(service));
  WriteEndpoints("zone-a", "db.yaml",
                 SliceYaml({.name = "db-a",
                            .service = "db",
                            .port = db.port(),
                            .port_name = "postgres",
                            .address = "127.0.0.1",
                            .ready = true}));
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));

  std::string received;
  // The listener can be active a moment before its cluster has endpoints.
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto client = test::TcpClient::Connect(port);
        if (!client.ok()) {
          received = client.status().ToString();
          return false;
        }
        if (!(*client)->Send("ping\n").ok()) return false;
        absl::StatusOr<std::string> lines = (*client)->ReadLines(2, 3000);
        received = lines.ok() ? *lines : lines.status().ToString();
        return lines.ok() && *lines == "db-a\nping\n";
      },
      20s, 200ms))
      << "last: " << received;
  const int before = db.connections();
  for (int i = 0; i < 3; ++i) {
    auto client = test::TcpClient::Connect(port);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    ASSERT_TRUE((*client)->Send(fmt::format("message {}\n", i)).ok());
    absl::StatusOr<std::string> lines = (*client)->ReadLines(2, 3000);
    ASSERT_TRUE(lines.ok()) << lines.status().ToString();
    EXPECT_EQ(*lines, fmt::format("db-a\nmessage {}\n", i));
  }
  EXPECT_EQ(db.connections(), before + 3);
}

// HTTPS with the certificate from a Secret over SDS. Rewriting the Secret
// rotates the certificate Envoy serves within seconds, and the listener is
// neither modified nor drained.
TEST_F(PropsyEnvoyRoutingTest, TlsTerminationAndCertificateRotation) {
  delta_xds_ = true;  // this one runs Envoy on delta ADS
  auto cert_a = MakeSelfSignedCert(dir_.path().string(), "cert-a.test");
  ASSERT_TRUE(cert_a.ok()) << cert_a.status().ToString();
  auto cert_b = MakeSelfSignedCert(dir_.path().string(), "cert-b.test");
  ASSERT_TRUE(cert_b.ok()) << cert_b.status().ToString();
  test::HttpBackend& web = AddHttpBackend("web-a");
  const int port = FreePort();
  ServiceManifest service;
  service.name = "web-secure";
  service.service = "web";
  service.listen_port = port;
  service.tls_secret = "web-tls";
  WriteConfig("zone-a", "web.yaml", ServiceYaml(service));
  WriteConfig("zone-a", "tls.yaml", TlsSecretYaml("web-tls", cert_a->cert, cert_a->key));
  WriteEndpoints("zone-a", "web.yaml",
                 SliceYaml({.name = "web-a",
                            .service = "web",
                            .port = web.port(),
                            .port_name = "http",
                            .address = "127.0.0.1",
                            .ready = true}));
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));

  absl::StatusOr<test::TlsProbeResult> probe = absl::UnknownError("not probed");
  ASSERT_TRUE(test::WaitFor(
      [&] {
        probe = test::ProbeTls(port, "cert-a.test", "/secure");
        return probe.ok() && probe->http_response.starts_with("HTTP/1.1 200") &&
               probe->http_response.ends_with("web-a");
      },
      20s, 200ms))
      << (probe.ok() ? probe->http_response : probe.status().ToString()) << "\n"
      << Diagnostics();
  EXPECT_EQ(probe->subject_cn, "cert-a.test");
  EXPECT_THAT(web.paths(), testing::Contains("/secure"));
  // Plain HTTP on the TLS listener gets no HTTP answer: never plaintext.
  EXPECT_EQ(HttpGet(port, "/").status, 0);

  const ListenerCounters before = ReadListenerCounters();
  EXPECT_EQ(before.draining, 0);
  WriteConfig("zone-a", "tls.yaml", TlsSecretYaml("web-tls", cert_b->cert, cert_b->key));
  const auto rotated_at = std::chrono::steady_clock::now();
  int64_t max_draining = 0;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        absl::StatusOr<int64_t> draining =
            envoy_->Stat("listener_manager.total_listeners_draining");
        if (draining.ok()) max_draining = std::max(max_draining, *draining);
        probe = test::ProbeTls(port, "cert-b.test", "");
        return probe.ok() && probe->subject_cn == "cert-b.test";
      },
      10s, 100ms))
      << "Envoy still serves " << (probe.ok() ? probe->subject_cn : probe.status().ToString())
      << "\n"
      << Diagnostics();
  const auto rotation = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - rotated_at);
  std::cout << fmt::format("[tls] certificate rotated in {} ms\n", rotation.count());
  probe = test::ProbeTls(port, "cert-b.test", "/after");
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  EXPECT_EQ(probe->subject_cn, "cert-b.test");
  EXPECT_THAT(probe->http_response, HasSubstr("web-a"));
  EXPECT_EQ(max_draining, 0) << "the rotation drained a listener";
  ExpectListenersUntouched(before);
  // The secret came over SDS (so the teardown's zero-rejection check covers
  // it), under the name translation gives it.
  absl::StatusOr<int64_t> sds_rejected = envoy_->Stat("sds.zone-a/shop/web-tls.update_rejected");
  EXPECT_TRUE(sds_rejected.ok()) << sds_rejected.status().ToString();
  absl::StatusOr<int64_t> sds_success = envoy_->Stat("sds.zone-a/shop/web-tls.update_success");
  ASSERT_TRUE(sds_success.ok()) << sds_success.status().ToString();
  EXPECT_GE(*sds_success, 2) << "certificate A, then B";
}

// percent 100: all traffic goes to the primary cluster, whose priority 0 is
// zone-a and priority 1 zone-b. When zone-a's endpoint turns unready, Envoy
// fails over to zone-b; when it is ready again, traffic comes back.
TEST_F(PropsyEnvoyRoutingTest, PriorityFailoverBetweenZones) {
  test::HttpBackend& zone_a = AddHttpBackend("web-a");
  test::HttpBackend& zone_b = AddHttpBackend("web-b");
  const int port = FreePort();
  ServiceManifest service;
  service.name = "web";
  service.service = "web";
  service.listen_port = port;
  service.percent = 100;
  WriteConfig("zone-a", "web.yaml", ServiceYaml(service));
  SliceManifest slice_a{.name = "web-a",
                        .service = "web",
                        .port = zone_a.port(),
                        .port_name = "http",
                        .address = "127.0.0.1",
                        .ready = true};
  WriteEndpoints("zone-a", "web.yaml", SliceYaml(slice_a));
  WriteEndpoints("zone-b", "web.yaml",
                 SliceYaml({.name = "web-b",
                            .service = "web",
                            .port = zone_b.port(),
                            .port_name = "http",
                            .address = "127.0.0.1",
                            .ready = true}));
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));

  Answer last;
  ASSERT_TRUE(WaitForBody(port, "/", "web-a", 20s, &last)) << last.status << " " << last.body;
  std::map<std::string, int> counts = CountBodies(port, "/", 50);
  EXPECT_EQ(counts, (std::map<std::string, int>{{"web-a", 50}})) << "percent 100 stays local";
  const ListenerCounters before = ReadListenerCounters();

  slice_a.ready = false;
  WriteEndpoints("zone-a", "web.yaml", SliceYaml(slice_a));
  ASSERT_TRUE(WaitForBody(port, "/", "web-b", 15s, &last))
      << "no failover to zone-b: " << last.status << " " << last.body << "\n"
      << Diagnostics();
  counts = CountBodies(port, "/", 50);
  EXPECT_EQ(counts, (std::map<std::string, int>{{"web-b", 50}})) << "zone-a is unhealthy";

  slice_a.ready = true;
  WriteEndpoints("zone-a", "web.yaml", SliceYaml(slice_a));
  ASSERT_TRUE(WaitForBody(port, "/", "web-a", 15s, &last))
      << "traffic did not come back to zone-a: " << last.status << " " << last.body;
  counts = CountBodies(port, "/", 50);
  EXPECT_EQ(counts, (std::map<std::string, int>{{"web-a", 50}}));
  ExpectListenersUntouched(before);
}

// Deleting manifests removes what they defined: a route (the path falls back
// to "/"), and a TCP listener with its cluster. Other services keep serving,
// and Envoy accepts every step (the teardown checks 0 NACKs).
TEST_F(PropsyEnvoyRoutingTest, DeletedServicesAreRemoved) {
  test::HttpBackend& web = AddHttpBackend("web-a");
  test::HttpBackend& api = AddHttpBackend("api-a");
  test::TcpBackend& db = AddTcpBackend("db-a");
  const int http_port = FreePort();
  const int tcp_port = FreePort();
  ServiceManifest web_service;
  web_service.name = "web";
  web_service.service = "web";
  web_service.listen_port = http_port;
  ServiceManifest api_service = web_service;
  api_service.name = "api";
  api_service.service = "api";
  api_service.path_prefix = "/api/";
  ServiceManifest db_service;
  db_service.name = "db";
  db_service.service = "db";
  db_service.listen_port = tcp_port;
  db_service.type = "TCP";
  WriteConfig("zone-a", "web.yaml", ServiceYaml(web_service));
  WriteConfig("zone-a", "api.yaml", ServiceYaml(api_service));
  WriteConfig("zone-a", "db.yaml", ServiceYaml(db_service));
  auto slice = [](const std::string& service, int port) {
    return SliceYaml({.name = service + "-a",
                      .service = service,
                      .port = port,
                      .port_name = "http",
                      .address = "127.0.0.1",
                      .ready = true});
  };
  WriteEndpoints(
      "zone-a", "endpoints.yaml",
      Documents({slice("web", web.port()), slice("api", api.port()), slice("db", db.port())}));
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(http_port));
  ASSERT_NO_FATAL_FAILURE(WaitForListener(tcp_port));
  Answer last;
  ASSERT_TRUE(WaitForBody(http_port, "/api/x", "api-a", 20s, &last))
      << last.status << " " << last.body;
  ASSERT_TRUE(WaitForBody(http_port, "/", "web-a", 20s, &last)) << last.status << " " << last.body;
  absl::StatusOr<google::protobuf::Struct> clusters =
      envoy_->ConfigDump("resource=dynamic_active_clusters");
  ASSERT_TRUE(clusters.ok()) << clusters.status().ToString();
  ASSERT_THAT(clusters->ShortDebugString(), HasSubstr("\"shop/db/primary\""));
  const ListenerCounters before = ReadListenerCounters();

  std::filesystem::remove(ConfigDir("zone-a") + "/api.yaml");
  EXPECT_TRUE(WaitForBody(http_port, "/api/x", "web-a", 15s, &last))
      << "/api/ still routed after its service was deleted: " << last.status << " " << last.body;
  ExpectListenersUntouched(before);

  std::filesystem::remove(ConfigDir("zone-a") + "/db.yaml");
  EXPECT_TRUE(
      test::WaitFor([&] { return !envoy_->ListenerPort(ListenerName(tcp_port)).ok(); }, 15s, 100ms))
      << "the TCP listener stayed after its service was deleted";
  EXPECT_TRUE(test::WaitFor(
      [&] {
        clusters = envoy_->ConfigDump("resource=dynamic_active_clusters");
        return clusters.ok() &&
               clusters->ShortDebugString().find("\"shop/db/") == std::string::npos;
      },
      15s, 100ms))
      << "db's cluster stayed: "
      << (clusters.ok() ? clusters->ShortDebugString() : clusters.status().ToString());
  EXPECT_TRUE(test::WaitFor([&] { return !test::TcpClient::Connect(tcp_port).ok(); }, 10s, 100ms))
      << "the TCP port still accepts";
  EXPECT_EQ(CountBodies(http_port, "/", 20), (std::map<std::string, int>{{"web-a", 20}}));
}

}  // namespace
}  // namespace propsy::e2e
