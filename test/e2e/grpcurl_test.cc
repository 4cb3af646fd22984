// grpcurl, with no .proto files, against the in-process xDS server: server
// reflection must list the services and resolve the Any payloads of a Fetch.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "xds/node_status.h"
#include "xds/resource.h"
#include "xds/server.h"
#include "xds/snapshot.h"
#include "xds/snapshot_cache.h"

#ifndef PROPSY_GRPCURL_PATH
#error "PROPSY_GRPCURL_PATH must be defined by the build"
#endif

namespace propsy {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;

constexpr char kNodeId[] = "grpcurl-node";
constexpr char kClusterName[] = "grpcurl-cluster-7f3a";

class GrpcurlTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(PROPSY_GRPCURL_PATH, X_OK), 0)
        << "grpcurl is required for e2e tests but was not found (CMake: \"" << PROPSY_GRPCURL_PATH
        << "\"); install it with scripts/install-deps.sh and re-run cmake";

    envoy::config::cluster::v3::Cluster cluster;
    cluster.set_name(kClusterName);
    cluster.set_type(envoy::config::cluster::v3::Cluster::STATIC);
    cluster.mutable_connect_timeout()->set_seconds(2);
    auto* address = cluster.mutable_load_assignment()
                        ->add_endpoints()
                        ->add_lb_endpoints()
                        ->mutable_endpoint()
                        ->mutable_address()
                        ->mutable_socket_address();
    address->set_address("127.0.0.1");
    address->set_port_value(8080);
    cluster.mutable_load_assignment()->set_cluster_name(kClusterName);
    cache_.SetSnapshot(
        kNodeId, xds::NodeSnapshotBuilder()
                     .Add(xds::ResourceType::kCluster, xds::MakeResource(kClusterName, cluster))
                     .Build());

    xds::XdsServerOptions options;
    options.listen_address = "127.0.0.1:0";
    auto server = xds::XdsServer::Start(options, cache_, registry_, clock_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }

  // Runs grpcurl -plaintext ARGS... against the server.
  test::RunResult Run(const std::vector<std::string>& args) {
    test::SubprocessOptions options;
    options.program = PROPSY_GRPCURL_PATH;
    options.args = {"-plaintext", "-max-time", "20"};
    options.args.insert(options.args.end(), args.begin(), args.end());
    options.log_path = dir_.File(fmt::format("grpcurl-{}.log", runs_++));
    auto result = test::RunToCompletion(options, 30s);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? *result : test::RunResult{};
  }

  // Like Run, and fails the test unless grpcurl exits 0. Returns its output.
  std::string Grpcurl(const std::vector<std::string>& args) {
    test::RunResult result = Run(args);
    EXPECT_EQ(result.exit_code, 0)
        << "grpcurl " << fmt::format("{}", fmt::join(args, " ")) << " failed:\n"
        << result.output;
    return result.output;
  }

  std::string Target() const { return fmt::format("127.0.0.1:{}", server_->port()); }

  test::TempDir dir_{"propsy-grpcurl"};
  int runs_ = 0;
  xds::SnapshotCache cache_;
  RealClock clock_;
  xds::NodeStatusRegistry registry_{clock_};
  std::unique_ptr<xds::XdsServer> server_;
};

TEST_F(GrpcurlTest, ListsServicesThroughReflection) {
  std::string output = Grpcurl({Target(), "list"});
  for (const char* service : {
           "envoy.service.discovery.v3.AggregatedDiscoveryService",
           "envoy.service.cluster.v3.ClusterDiscoveryService",
           "envoy.service.listener.v3.ListenerDiscoveryService",
           "envoy.service.route.v3.RouteDiscoveryService",
           "envoy.service.endpoint.v3.EndpointDiscoveryService",
           "envoy.service.secret.v3.SecretDiscoveryService",
           "envoy.service.status.v3.ClientStatusDiscoveryService",
           "grpc.health.v1.Health",
           "grpc.reflection.v1alpha.ServerReflection",
       }) {
    EXPECT_THAT(output, HasSubstr(service));
  }
}

TEST_F(GrpcurlTest, DescribesFetchClusters) {
  std::string output =
      Grpcurl({Target(), "describe", "envoy.service.cluster.v3.ClusterDiscoveryService"});
  EXPECT_THAT(output, HasSubstr("rpc FetchClusters"));
  EXPECT_THAT(output, HasSubstr("rpc DeltaClusters"));
}

TEST_F(GrpcurlTest, FetchClustersResolvesAnyPayloads) {
  std::string output = Grpcurl({"-d", fmt::format(R"({{"node":{{"id":"{}"}}}})", kNodeId), Target(),
                                "envoy.service.cluster.v3.ClusterDiscoveryService/FetchClusters"});
  // The Any body is printed as JSON with its fields, which only works when
  // reflection can resolve type.googleapis.com/envoy.config.cluster.v3.Cluster.
  EXPECT_THAT(output,
              HasSubstr("\"@type\": \"type.googleapis.com/envoy.config.cluster.v3.Cluster\""));
  EXPECT_THAT(output, HasSubstr(fmt::format("\"name\": \"{}\"", kClusterName)));
  EXPECT_THAT(output, HasSubstr("\"connect_timeout\": \"2s\""));
  EXPECT_THAT(output, HasSubstr("\"version_info\""));
}

TEST_F(GrpcurlTest, FetchForNodeWithoutConfigIsUnavailable) {
  test::RunResult result = Run({"-d", R"({"node":{"id":"some-other-node"}})", Target(),
                                "envoy.service.cluster.v3.ClusterDiscoveryService/FetchClusters"});
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("Unavailable"));
  EXPECT_THAT(result.output, testing::Not(HasSubstr(kClusterName)));
}

TEST_F(GrpcurlTest, HealthCheckServes) {
  std::string output = Grpcurl({Target(), "grpc.health.v1.Health/Check"});
  EXPECT_THAT(output, HasSubstr("\"status\": \"SERVING\""));
}

}  // namespace
}  // namespace propsy
