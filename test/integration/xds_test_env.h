#pragma once

// The in-process xDS server under test, and Envoy resources to serve.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "envoy/service/status/v3/csds.pb.h"
#include "xds/node_status.h"
#include "xds/resource.h"
#include "xds/resource_type.h"
#include "xds/server.h"
#include "xds/snapshot.h"
#include "xds/snapshot_cache.h"

namespace propsy::xds::testing {

// Envoy resources built from the real v3 protos.
ResourcePtr ClusterResource(const std::string& name, int connect_timeout_ms = 250);
// A ClusterLoadAssignment for `cluster_name` with one endpoint on `port`.
ResourcePtr EndpointsResource(const std::string& cluster_name, int port = 8080);
// A listener whose HttpConnectionManager takes `route_name` over RDS (ADS).
ResourcePtr ListenerResource(const std::string& name, const std::string& route_name, int port);
ResourcePtr RouteResource(const std::string& name, const std::string& cluster,
                          const std::string& prefix = "/");
ResourcePtr SecretResource(const std::string& name, const std::string& marker = "1");

using Entry = std::pair<ResourceType, ResourcePtr>;
SnapshotPtr MakeSnapshot(const std::vector<Entry>& entries);

// A consistent snapshot with one service per name in `services`: cluster
// and endpoints "c-NAME", listener "l-NAME" (port from `base_port` up) and
// route "r-NAME", plus secret "s-NAME". `generation` is folded into the
// endpoint ports, so each generation changes the endpoints of every service.
SnapshotPtr ServicesSnapshot(const std::vector<std::string>& services, int generation = 0);

// Resource names carried by a response (decoded from the Any bodies).
std::set<std::string> Names(const envoy::service::discovery::v3::DiscoveryResponse& response);
std::set<std::string> Names(const envoy::service::discovery::v3::DeltaDiscoveryResponse& response);
std::set<std::string> Removed(
    const envoy::service::discovery::v3::DeltaDiscoveryResponse& response);
// The endpoint port of a ClusterLoadAssignment named `name` in the response
// (-1 if absent).
int EndpointPort(const envoy::service::discovery::v3::DiscoveryResponse& response,
                 const std::string& name);

std::string Url(ResourceType type);

// The CSDS entry of resource `name` for `node`, from FetchClientStatus over
// `channel` (nullopt if not listed).
std::optional<envoy::service::status::v3::ClientConfig::GenericXdsConfig> CsdsEntry(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& node, ResourceType type,
    const std::string& name);
// Polls CsdsEntry (bounded) until `done` holds for the entry.
std::optional<envoy::service::status::v3::ClientConfig::GenericXdsConfig> AwaitCsdsEntry(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& node, ResourceType type,
    const std::string& name,
    const std::function<bool(const envoy::service::status::v3::ClientConfig::GenericXdsConfig&)>&
        done);

// Owns a SnapshotCache, a NodeStatusRegistry and an XdsServer on 127.0.0.1
// port 0. Tests Start() it with the options they need.
class XdsServerTest : public ::testing::Test {
 protected:
  // Starts the server (listen address forced to 127.0.0.1:0); fails the
  // test if it does not start.
  void StartServer(XdsServerOptions options = {});
  std::string Address() const;
  std::shared_ptr<grpc::Channel> InsecureChannel() const;

  SnapshotCache cache_;
  RealClock clock_;
  NodeStatusRegistry registry_{clock_};
  std::unique_ptr<XdsServer> server_;
};

// A plaintext server started before each test.
class XdsPlaintextTest : public XdsServerTest {
 protected:
  void SetUp() override {
    StartServer();
    channel_ = InsecureChannel();
  }
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace propsy::xds::testing
