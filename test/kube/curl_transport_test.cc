// The libcurl transport against a local HTTPS server: TLS verification,
// client certificates, credentials, connection reuse.
#include "kube/curl_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "kube/exec_credential.h"
#include "kube/kube_test_util.h"
#include "kube/transport_test_fixture.h"

namespace propsy::kube::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(CurlTransportTest, VerifiesTheServerWithTheClusterCa) {
  TestServer server(server_files_);
  AddOk(&server);
  server.Start();
  std::unique_ptr<CurlTransport> transport = Transport(Config(server));
  ASSERT_NE(transport, nullptr);
  absl::StatusOr<HttpResponse> response = transport->Send(Get("/version"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "{\"ok\":true}");
  EXPECT_EQ(response->headers["content-type"], "application/json");
  ASSERT_EQ(server.seen().size(), 1u);
  EXPECT_EQ(server.seen()[0].accept, "application/json");
  EXPECT_THAT(server.seen()[0].user_agent, HasSubstr("propsy/"));
  EXPECT_EQ(transport->Describe(), server.url());
}

TEST_F(CurlTransportTest, WrongCaIsAnErrorNeverInsecure) {
  TestServer server(server_files_);
  AddOk(&server);
  server.Start();
  ClusterConnectionConfig config = Config(server);
  config.certificate_authority_pem = ReadFile(certs_->CaCert("other-ca"));
  std::unique_ptr<CurlTransport> transport = Transport(config);
  absl::StatusOr<HttpResponse> response = transport->Send(Get("/version"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(response.status().message()), HasSubstr("/version"));
  // Without a CA only the system store counts, which does not know the test CA.
  config.certificate_authority_pem.clear();
  EXPECT_FALSE(Transport(config)->Send(Get("/version")).ok());
  EXPECT_TRUE(server.seen().empty());
  // Only an explicit insecure-skip-tls-verify skips verification.
  config.insecure_skip_tls_verify = true;
  absl::StatusOr<HttpResponse> insecure = Transport(config)->Send(Get("/version"));
  ASSERT_TRUE(insecure.ok()) << insecure.status();
  EXPECT_EQ(insecure->status, 200);
}

TEST_F(CurlTransportTest, TlsServerNameChecksTheCertificateAgainstThatName) {
  absl::StatusOr<CertFiles> named = certs_->Issue("named", "kube", {"DNS:kubernetes.internal"});
  ASSERT_TRUE(named.ok()) << named.status();
  TestServer server(*named);
  AddOk(&server);
  server.Start();
  ClusterConnectionConfig config = Config(server);
  EXPECT_FALSE(Transport(config)->Send(Get("/version")).ok());  // 127.0.0.1 is not in the cert
  config.tls_server_name = "kubernetes.internal";
  std::unique_ptr<CurlTransport> transport = Transport(config);
  absl::StatusOr<HttpResponse> response = transport->Send(Get("/version"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  ASSERT_EQ(server.seen().size(), 1u);
  // The Host header keeps the server's own authority.
  EXPECT_EQ(server.seen()[0].host, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_THAT(transport->Describe(), HasSubstr("kubernetes.internal"));
}

TEST_F(CurlTransportTest, ClientCertificateAuthentication) {
  absl::StatusOr<CertFiles> client = certs_->Issue("client", "propsy", {});
  ASSERT_TRUE(client.ok()) << client.status();
  TestServer server(server_files_, certs_->CaCert());
  std::string subject;
  server.http().Get("/whoami", [&](const httplib::Request& request, httplib::Response& response) {
    X509* peer = SSL_get_peer_certificate(request.ssl);
    if (peer != nullptr) {
      char name[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name, sizeof(name));
      subject = name;
      X509_free(peer);
    }
    response.set_content(subject, "text/plain");
  });
  server.Start();
  ClusterConnectionConfig config = Config(server);
  EXPECT_FALSE(Transport(config)->Send(Get("/whoami")).ok());  // the server requires one
  config.client_certificate_pem = ReadFile(client->cert);
  config.client_key_pem = ReadFile(client->key);
  absl::StatusOr<HttpResponse> response = Transport(config)->Send(Get("/whoami"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "propsy");
}

TEST_F(CurlTransportTest, SendsTheBearerTokenAndBodies) {
  TestServer server(server_files_);
  server.http().Post("/apis/x", [&](const httplib::Request& request, httplib::Response& response) {
    server.Record(request);
    response.status = 201;
    response.set_content("created", "text/plain");
  });
  server.Start();
  ClusterConnectionConfig config = Config(server);
  config.authenticator = std::make_shared<StaticToken>("sekret");
  HttpRequest request{.method = "POST",
                      .path = "/apis/x",
                      .headers = {{"Content-Type", "application/json"}},
                      .body = "{\"a\":1}",
                      .timeout = std::chrono::seconds(10)};
  absl::StatusOr<HttpResponse> response = Transport(config)->Send(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
  ASSERT_EQ(server.seen().size(), 1u);
  EXPECT_EQ(server.seen()[0].authorization, "Bearer sekret");
  EXPECT_EQ(server.seen()[0].method, "POST");
  EXPECT_EQ(server.seen()[0].body, "{\"a\":1}");
}

TEST_F(CurlTransportTest, UnauthorizedRunsTheExecPluginAgainAndRetries) {
  TestServer server(server_files_);
  server.http().Get("/api", [&](const httplib::Request& request, httplib::Response& response) {
    server.Record(request);
    if (request.get_header_value("Authorization") != "Bearer tok-2") {
      response.status = 401;
      response.set_content("{\"kind\":\"Status\",\"code\":401}", "application/json");
      return;
    }
    response.set_content("in", "text/plain");
  });
  server.Start();
  testing::TempDir dir;
  const std::string plugin = dir.WriteScript(
      "plugin",
      "n=$(cat \"" + dir.Path("runs") +
          "\" 2>/dev/null || echo 0)\n"
          "n=$((n + 1))\n"
          "echo $n > \"" +
          dir.Path("runs") +
          "\"\n"
          "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
          "\"status\":{\"token\":\"tok-%s\"}}' $n\n");
  auto exec = std::make_shared<ExecCredential>(ExecConfig{.api_version = kExecApiV1,
                                                          .command = plugin,
                                                          .args = {},
                                                          .env = {},
                                                          .install_hint = {},
                                                          .provide_cluster_info = false,
                                                          .interactive_mode = "Never"},
                                               std::nullopt);
  ClusterConnectionConfig config = Config(server);
  config.authenticator = exec;
  std::unique_ptr<CurlTransport> transport = Transport(config);
  absl::StatusOr<HttpResponse> response = transport->Send(Get("/api"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(exec->runs(), 2);
  ASSERT_EQ(server.seen().size(), 2u);
  EXPECT_EQ(server.seen()[0].authorization, "Bearer tok-1");
  EXPECT_EQ(server.seen()[1].authorization, "Bearer tok-2");
  // The renewed token is cached: the next request needs no run.
  EXPECT_EQ(transport->Send(Get("/api"))->status, 200);
  EXPECT_EQ(exec->runs(), 2);

  // A static token cannot be renewed: the 401 comes back after one try.
  config.authenticator = std::make_shared<StaticToken>("wrong");
  absl::StatusOr<HttpResponse> denied = Transport(config)->Send(Get("/api"));
  ASSERT_TRUE(denied.ok()) << denied.status();
  EXPECT_EQ(denied->status, 401);
  EXPECT_EQ(server.seen().size(), 4u);
}

TEST_F(CurlTransportTest, ReusesTheConnection) {
  TestServer server(server_files_);
  AddOk(&server);
  server.Start();
  std::unique_ptr<CurlTransport> transport = Transport(Config(server));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(transport->Send(Get("/version"))->status, 200);
  const std::vector<Seen> seen = server.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].remote_port, seen[1].remote_port);
  EXPECT_EQ(seen[1].remote_port, seen[2].remote_port);
}

}  // namespace
}  // namespace propsy::kube::testing
