// Two propsy replicas on the same two API servers and one real Envoy whose
// xds_cluster lists both (SPEC §6, "Replicas"): the replica Envoy is
// connected to is stopped (SIGTERM: graceful drain; SIGKILL: gone at once)
// while requests flow; Envoy moves to the other replica with no failed
// request, no listener modified or drained, and nothing re-sent, because
// both replicas give the same resources the same versions.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "e2e/kube_e2e_fixture.h"
#include "envoy/service/cluster/v3/cds.grpc.pb.h"
#include "envoy/service/endpoint/v3/eds.grpc.pb.h"
#include "envoy/service/listener/v3/lds.grpc.pb.h"
#include "envoy/service/route/v3/rds.grpc.pb.h"
#include "envoy/service/secret/v3/sds.grpc.pb.h"
#include "support/wait.h"

#ifndef PROPSY_BINARY_PATH
#error "PROPSY_BINARY_PATH must be defined by the build"
#endif

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

enum class StopMode { kTerminate, kKill };

// version_info per resource type of node kNodeId, fetched with the unary
// Fetch* calls; "error: ..." for a type that could not be fetched.
std::map<std::string, std::string> FetchVersions(int xds_port) {
  auto channel = grpc::CreateChannel(fmt::format("127.0.0.1:{}", xds_port),
                                     grpc::InsecureChannelCredentials());
  DiscoveryRequest request;
  request.mutable_node()->set_id(kNodeId);
  std::map<std::string, std::string> versions;
  auto fetch = [&](const std::string& type, auto call) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    DiscoveryResponse response;
    grpc::Status status = call(&context, &response);
    versions[type] = status.ok() ? response.version_info() : "error: " + status.error_message();
  };
  auto lds = envoy::service::listener::v3::ListenerDiscoveryService::NewStub(channel);
  auto rds = envoy::service::route::v3::RouteDiscoveryService::NewStub(channel);
  auto cds = envoy::service::cluster::v3::ClusterDiscoveryService::NewStub(channel);
  auto eds = envoy::service::endpoint::v3::EndpointDiscoveryService::NewStub(channel);
  auto sds = envoy::service::secret::v3::SecretDiscoveryService::NewStub(channel);
  fetch("listeners", [&](auto* c, auto* r) { return lds->FetchListeners(c, request, r); });
  fetch("routes", [&](auto* c, auto* r) { return rds->FetchRoutes(c, request, r); });
  fetch("clusters", [&](auto* c, auto* r) { return cds->FetchClusters(c, request, r); });
  fetch("endpoints", [&](auto* c, auto* r) { return eds->FetchEndpoints(c, request, r); });
  fetch("secrets", [&](auto* c, auto* r) { return sds->FetchSecrets(c, request, r); });
  return versions;
}

class PropsyFailoverTest : public KubePropsyTest {
 protected:
  // Replica B: the same command line on other ports.
  void StartReplicaB() {
    replica_b_xds_port_ = replica_xds_ports_.at(0);
    StartKubeReplica(replica_b_xds_port_, "propsy-b.log", &replica_b_);
  }

  static double ConnectedStreams(test::PropsyProcess& replica) {
    absl::StatusOr<double> streams = replica.Metric("propsy_xds_connected_streams");
    return streams.ok() ? *streams : -1;
  }

  int64_t EnvoyStat(const std::string& name) {
    absl::StatusOr<int64_t> value = envoy_->Stat(name);
    EXPECT_TRUE(value.ok()) << name << ": " << value.status().ToString();
    return value.ok() ? *value : -1;
  }

  void RunFailover(StopMode mode) {
    const int port = ApplyWebService(AddKubeBackend("web-zone-a"));

    // Envoy lists both replicas but finds only A running at first, so the
    // stream it settles on is A's (the fixture's propsy_).
    replica_xds_ports_ = {FreePort()};
    ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
    ASSERT_NO_FATAL_FAILURE(WaitForListener(port));
    ASSERT_TRUE(WaitForBody(port, "/", "web-zone-a", 30s)) << Diagnostics();
    ASSERT_NO_FATAL_FAILURE(StartReplicaB());
    ASSERT_TRUE(test::WaitFor([&] { return ConnectedStreams(*propsy_) == 1; }, 10s))
        << Diagnostics();
    EXPECT_EQ(ConnectedStreams(*replica_b_), 0);

    // Both replicas version the node's resources identically.
    std::map<std::string, std::string> versions_a;
    std::map<std::string, std::string> versions_b;
    ASSERT_TRUE(test::WaitFor(
        [&] {
          versions_a = FetchVersions(xds_port_);
          versions_b = FetchVersions(replica_b_xds_port_);
          return versions_a == versions_b;
        },
        10s))
        << "replica versions differ";
    for (const auto& [type, version] : versions_a) {
      EXPECT_FALSE(version.empty() || version.starts_with("error")) << type << ": " << version;
      std::cout << fmt::format("[failover] {} version {} on both replicas\n", type, version);
    }

    const int64_t lds_updates = EnvoyStat("listener_manager.lds.update_success");
    const int64_t cds_updates = EnvoyStat("cluster_manager.cds.update_success");
    const ListenerCounters listeners = ReadListenerCounters();
    const int64_t added = EnvoyStat("listener_manager.listener_added");

    TrafficLoop traffic(port, "/", 2ms);
    ASSERT_TRUE(test::WaitFor([&] { return traffic.requests() >= 200; }, 10s));
    const auto stopped_at = std::chrono::steady_clock::now();
    if (mode == StopMode::kTerminate) {
      ASSERT_EQ(kill(propsy_->process().pid(), SIGTERM), 0);
      // -drainperiod is 10 s: its one stream closes at once, then it exits.
      std::optional<int> status = propsy_->process().Wait(12s);
      ASSERT_TRUE(status.has_value()) << "replica A still runs 12 s after SIGTERM";
      EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
          << propsy_->process().DescribeExit() << "\n"
          << propsy_->LogTail();
    } else {
      ASSERT_EQ(kill(propsy_->process().pid(), SIGKILL), 0);
      ASSERT_TRUE(propsy_->process().Wait(5s).has_value());
    }
    int64_t max_draining = 0;
    const bool moved = test::WaitFor(
        [&] {
          max_draining =
              std::max(max_draining, EnvoyStat("listener_manager.total_listeners_draining"));
          return ConnectedStreams(*replica_b_) == 1 &&
                 EnvoyStat("control_plane.connected_state") == 1;
        },
        20s, 20ms);
    const auto moved_after = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - stopped_at);
    ASSERT_TRUE(moved) << "Envoy did not move to replica B\n"
                       << Diagnostics() << "\nreplica B:\n"
                       << replica_b_->LogTail();
    // Traffic goes on for a while on the configuration Envoy kept.
    const int requests_at_move = traffic.requests();
    ASSERT_TRUE(test::WaitFor([&] { return traffic.requests() >= requests_at_move + 300; }, 10s));
    TrafficLoop::Result result = traffic.Stop();
    absl::StatusOr<double> resent = replica_b_->MetricSum("propsy_xds_response_resources_total");
    std::cout << fmt::format(
        "[failover] {}: Envoy on replica B {} ms after the stop; {} requests, {} failed\n",
        mode == StopMode::kTerminate ? "SIGTERM" : "SIGKILL", moved_after.count(), result.requests,
        result.failures);
    EXPECT_EQ(result.failures, 0) << testing::PrintToString(result.first_failures);
    EXPECT_EQ(result.bodies["web-zone-a"], result.requests - result.failures);

    // Nothing was re-sent: replica B sent Envoy no resource at all, and no
    // listener was added, modified, removed or drained.
    ASSERT_TRUE(resent.ok()) << resent.status().ToString();
    EXPECT_EQ(*resent, 0) << "resources replica B re-sent";
    EXPECT_EQ(max_draining, 0);
    ExpectListenersUntouched(listeners);
    EXPECT_EQ(EnvoyStat("listener_manager.listener_added"), added);
    const int64_t lds_after = EnvoyStat("listener_manager.lds.update_success");
    const int64_t cds_after = EnvoyStat("cluster_manager.cds.update_success");
    std::cout << fmt::format("[failover] LDS updates {} -> {}, CDS updates {} -> {}\n", lds_updates,
                             lds_after, cds_updates, cds_after);
    if (!delta_xds_) {
      // State of the world: Envoy's reconnect names the versions it holds,
      // and no LDS or CDS response comes at all.
      EXPECT_EQ(lds_after, lds_updates);
      EXPECT_EQ(cds_after, cds_updates);
    }
    // (Delta: the reconnected wildcard subscriptions are answered by a
    // response that carries no resource, which Envoy counts as an update.)

    // Replica B serves changes from now on.
    test::HttpBackend& moved_backend = AddKubeBackend("web-zone-a2");
    Apply(kZoneA, Slice("web-a", "web", moved_backend));
    EXPECT_TRUE(WaitForBody(port, "/", "web-zone-a2", 30s)) << Diagnostics();

    // The fixture's checks (0 NACKs, still running) apply to the survivor.
    propsy_ = std::move(replica_b_);
  }

  int replica_b_xds_port_ = 0;
  std::unique_ptr<test::PropsyProcess> replica_b_;
};

TEST_F(PropsyFailoverTest, SigtermMovesEnvoyToTheOtherReplicaWithoutAFailedRequest) {
  RunFailover(StopMode::kTerminate);
}

TEST_F(PropsyFailoverTest, SigkillMovesEnvoyToTheOtherReplicaWithoutAFailedRequest) {
  RunFailover(StopMode::kKill);
}

TEST_F(PropsyFailoverTest, DeltaSigkillMovesEnvoyToTheOtherReplicaWithoutAFailedRequest) {
  delta_xds_ = true;
  RunFailover(StopMode::kKill);
}

}  // namespace
}  // namespace propsy::e2e
