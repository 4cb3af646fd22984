// TLS and mutual TLS for the xDS server (SPEC §1 TLS flags, §4 identity),
// with certificates made by openssl at test time.

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "envoy/service/cluster/v3/cds.grpc.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "integration/test_certs.h"
#include "integration/xds_client.h"
#include "integration/xds_test_env.h"
#include "xds/server_tls.h"

namespace propsy::xds::testing {
namespace {

using envoy::service::cluster::v3::ClusterDiscoveryService;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using ::testing::HasSubstr;

using Names_ = std::set<std::string>;

class TlsTest : public XdsServerTest {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCerts> certs = TestCerts::Create();
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_.emplace(std::move(*certs));
    server_cert_ = Issue("server", "propsy-server", {"DNS:localhost", "IP:127.0.0.1"});
    client_cn_ = Issue("client-cn", "node-cn", {});
    client_san_ = Issue("client-san", "not-the-node", {"DNS:node-san"});
    client_other_ca_ = Issue("client-other-ca", "node-cn", {}, "other-ca");
    for (const char* node : {"node-cn", "node-san", "node-any", "node-intruder"}) {
      cache_.SetSnapshot(node, ServicesSnapshot({"a"}));
    }
  }

  // Stop the server before its certificate files go away with certs_.
  void TearDown() override { server_.reset(); }

  CertFiles Issue(const std::string& file, const std::string& cn,
                  const std::vector<std::string>& sans, const std::string& ca = "ca") {
    absl::StatusOr<CertFiles> files = certs_->Issue(file, cn, sans, ca);
    EXPECT_TRUE(files.ok()) << files.status();
    return files.ok() ? *files : CertFiles{};
  }

  void StartTls(const std::string& client_ca, bool check_peer_identity = true) {
    absl::StatusOr<std::optional<ServerTlsFiles>> tls =
        ServerTlsFromFlags(server_cert_.cert, server_cert_.key, client_ca);
    ASSERT_TRUE(tls.ok()) << tls.status();
    ASSERT_TRUE(tls->has_value());
    XdsServerOptions options;
    options.tls = **tls;
    options.check_peer_identity = check_peer_identity;
    options.cert_refresh_seconds = 1;
    StartServer(options);
  }

  // A channel of its own (no shared subchannel: every channel makes a new
  // TLS connection), trusting our CA, presenting `client` if given.
  std::shared_ptr<grpc::Channel> TlsChannel(const std::optional<CertFiles>& client) const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(certs_->CaCert());
    if (client.has_value()) {
      ssl.pem_private_key = ReadFile(client->key);
      ssl.pem_cert_chain = ReadFile(client->cert);
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(Address(), grpc::SslCredentials(ssl), args);
  }

  // FetchClusters for `node`; `server_cn` receives the server certificate's
  // common name as the client saw it.
  grpc::Status FetchClusters(const std::shared_ptr<grpc::Channel>& channel, const std::string& node,
                             DiscoveryResponse* response, std::string* server_cn = nullptr) {
    auto stub = ClusterDiscoveryService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kExpectWithin));
    grpc::Status status = stub->FetchClusters(&context, SotwRequest(node, ""), response);
    if (server_cn != nullptr && context.auth_context() != nullptr) {
      for (const auto& value : context.auth_context()->FindPropertyValues("x509_common_name")) {
        *server_cn = std::string(value.data(), value.size());
      }
    }
    return status;
  }

  // Opens an ADS stream as `node`: OK with the first response, or the
  // status the server ended the stream with.
  grpc::Status AdsAs(const std::shared_ptr<grpc::Channel>& channel, const std::string& node,
                     Names_* names) {
    auto stub = AggregatedDiscoveryService::NewStub(channel);
    auto stream =
        OpenStream<SotwStream>(*stub, &AggregatedDiscoveryService::Stub::StreamAggregatedResources);
    stream->Send(SotwRequest(node, Url(ResourceType::kCluster)));
    if (std::optional<DiscoveryResponse> response = stream->Next()) {
      *names = Names(*response);
      return grpc::Status::OK;
    }
    return stream->AwaitStatus();
  }

  std::optional<TestCerts> certs_;
  CertFiles server_cert_;
  CertFiles client_cn_;
  CertFiles client_san_;
  CertFiles client_other_ca_;
};

TEST_F(TlsTest, FlagCombinations) {
  const std::string cert = server_cert_.cert;
  const std::string key = server_cert_.key;
  const std::string ca = certs_->CaCert();

  auto plain = ServerTlsFromFlags("", "", "");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->has_value());

  auto tls = ServerTlsFromFlags(cert, key, "");
  ASSERT_TRUE(tls.ok()) << tls.status();
  ASSERT_TRUE(tls->has_value());
  EXPECT_EQ((*tls)->cert, cert);
  EXPECT_EQ((*tls)->key, key);
  EXPECT_TRUE((*tls)->client_ca.empty());
  EXPECT_TRUE(MakeServerCredentials(*tls, 1).ok());

  auto mtls = ServerTlsFromFlags(cert, key, ca);
  ASSERT_TRUE(mtls.ok()) << mtls.status();
  ASSERT_TRUE(mtls->has_value());
  EXPECT_EQ((*mtls)->client_ca, ca);
  EXPECT_TRUE(MakeServerCredentials(*mtls, 1).ok());

  struct Bad {
    std::string cert, key, ca, names;
  };
  const std::string missing = certs_->Path("does-not-exist.pem");
  for (const Bad& bad : std::vector<Bad>{
           {"", key, "", "-servercert"},
           {cert, "", "", "-serverkey"},
           {"", "", ca, "-servercert"},
           {cert, "", ca, "-serverkey"},
           {"", key, ca, "-servercert"},
           {missing, key, "", "-servercert"},
           {cert, missing, "", "-serverkey"},
           {cert, key, missing, "-clientverifyca"},
       }) {
    SCOPED_TRACE(bad.names);
    auto result = ServerTlsFromFlags(bad.cert, bad.key, bad.ca);
    ASSERT_FALSE(result.ok()) << "accepted cert=" << bad.cert << " key=" << bad.key
                              << " ca=" << bad.ca;
    EXPECT_THAT(std::string(result.status().message()), HasSubstr(bad.names));
    if (bad.cert == missing || bad.key == missing || bad.ca == missing) {
      EXPECT_THAT(std::string(result.status().message()), HasSubstr(missing));
    }
  }
}

TEST_F(TlsTest, TlsOnlyServesClientsWithoutCertificate) {
  StartTls("");
  DiscoveryResponse response;
  std::string server_cn;
  grpc::Status status = FetchClusters(TlsChannel(std::nullopt), "node-any", &response, &server_cn);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Names(response), Names_{"c-a"});
  EXPECT_EQ(server_cn, "propsy-server");

  // No identity check without a client CA, even for a presented certificate.
  Names_ names;
  status = AdsAs(TlsChannel(client_cn_), "node-any", &names);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(names, Names_{"c-a"});

  // Plaintext is not accepted by a TLS server.
  auto plaintext = grpc::CreateChannel(Address(), grpc::InsecureChannelCredentials());
  status = FetchClusters(plaintext, "node-any", &response);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutCertificateOrFromAnotherCa) {
  StartTls(certs_->CaCert());
  DiscoveryResponse response;
  grpc::Status status = FetchClusters(TlsChannel(std::nullopt), "node-cn", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();

  status = FetchClusters(TlsChannel(client_other_ca_), "node-cn", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();

  Names_ names;
  status = AdsAs(TlsChannel(client_other_ca_), "node-cn", &names);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();

  // The same server serves a properly certified client.
  status = FetchClusters(TlsChannel(client_cn_), "node-cn", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Names(response), Names_{"c-a"});
}

TEST_F(TlsTest, MutualTlsServesNodeWhoseIdIsTheCertificateCommonName) {
  StartTls(certs_->CaCert());
  Names_ names;
  grpc::Status status = AdsAs(TlsChannel(client_cn_), "node-cn", &names);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(names, Names_{"c-a"});
  DiscoveryResponse response;
  status = FetchClusters(TlsChannel(client_cn_), "node-cn", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(registry_.totals().identity_rejections, 0u);
}

TEST_F(TlsTest, MutualTlsServesNodeWhoseIdIsADnsSan) {
  StartTls(certs_->CaCert());
  Names_ names;
  grpc::Status status = AdsAs(TlsChannel(client_san_), "node-san", &names);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(names, Names_{"c-a"});
  EXPECT_EQ(registry_.totals().identity_rejections, 0u);
}

TEST_F(TlsTest, MutualTlsRefusesNodeIdThatIsNotTheCertificateIdentity) {
  StartTls(certs_->CaCert());
  Names_ names;
  grpc::Status status = AdsAs(TlsChannel(client_cn_), "node-intruder", &names);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("node-intruder"));
  EXPECT_EQ(registry_.totals().identity_rejections, 1u);

  // The SAN certificate's CN is not its node either.
  status = AdsAs(TlsChannel(client_san_), "not-the-node-either", &names);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();

  DiscoveryResponse response;
  status = FetchClusters(TlsChannel(client_cn_), "node-intruder", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("node-intruder"));
  EXPECT_EQ(registry_.totals().identity_rejections, 3u);
  EXPECT_EQ(registry_.ConnectedStreams(), 0u);
}

TEST_F(TlsTest, PeerSkipCnServesMismatchedNodeId) {
  StartTls(certs_->CaCert(), /*check_peer_identity=*/false);
  Names_ names;
  grpc::Status status = AdsAs(TlsChannel(client_cn_), "node-intruder", &names);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(names, Names_{"c-a"});
  DiscoveryResponse response;
  status = FetchClusters(TlsChannel(client_cn_), "node-intruder", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(registry_.totals().identity_rejections, 0u);
  // Client certificates are still required.
  status = FetchClusters(TlsChannel(std::nullopt), "node-intruder", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsTest, NewConnectionsSeeAReplacedServerCertificate) {
  // The server reads copies, which the test then replaces on disk.
  const std::string live_cert = certs_->Path("live.crt");
  const std::string live_key = certs_->Path("live.key");
  ASSERT_TRUE(ReplaceFile(live_cert, ReadFile(server_cert_.cert)));
  ASSERT_TRUE(ReplaceFile(live_key, ReadFile(server_cert_.key)));
  const CertFiles reloaded =
      Issue("server-reloaded", "propsy-server-reloaded", {"DNS:localhost", "IP:127.0.0.1"});
  server_cert_ = CertFiles{.cert = live_cert, .key = live_key};
  StartTls(certs_->CaCert());

  DiscoveryResponse response;
  std::string server_cn;
  grpc::Status status = FetchClusters(TlsChannel(client_cn_), "node-cn", &response, &server_cn);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(server_cn, "propsy-server");

  ASSERT_TRUE(ReplaceFile(live_key, ReadFile(reloaded.key)));
  ASSERT_TRUE(ReplaceFile(live_cert, ReadFile(reloaded.cert)));
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    server_cn.clear();
    status = FetchClusters(TlsChannel(client_cn_), "node-cn", &response, &server_cn);
    if (status.ok() && server_cn == "propsy-server-reloaded") break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(server_cn, "propsy-server-reloaded");
}

}  // namespace
}  // namespace propsy::xds::testing
