// State-of-the-world discovery over ADS and the per-type services, against
// the in-process server with real gRPC clients.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "envoy/service/cluster/v3/cds.grpc.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/endpoint/v3/eds.grpc.pb.h"
#include "envoy/service/listener/v3/lds.grpc.pb.h"
#include "integration/xds_client.h"
#include "integration/xds_test_env.h"

namespace propsy::xds::testing {
namespace {

using envoy::service::cluster::v3::ClusterDiscoveryService;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::endpoint::v3::EndpointDiscoveryService;
using envoy::service::listener::v3::ListenerDiscoveryService;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class SotwTest : public XdsPlaintextTest {
 protected:
  void SetUp() override {
    XdsPlaintextTest::SetUp();
    ads_ = AggregatedDiscoveryService::NewStub(channel_);
  }

  std::unique_ptr<SotwStream> OpenAds(bool start_reading = true) {
    return OpenStream<SotwStream>(
        *ads_, &AggregatedDiscoveryService::Stub::StreamAggregatedResources, start_reading);
  }

  std::unique_ptr<AggregatedDiscoveryService::Stub> ads_;
};

// ACK then no resend; a new snapshot gives a new version and a fresh nonce;
// an equal snapshot (same content) gives nothing.
void CheckAckAndUpdates(SnapshotCache& cache, SotwStream& stream, const std::string& node,
                        const std::string& type_url_on_wire) {
  cache.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 250)},
                                        {ResourceType::kCluster, ClusterResource("b", 250)}}));
  ASSERT_TRUE(stream.Send(SotwRequest(node, type_url_on_wire)));
  std::optional<DiscoveryResponse> first = stream.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->type_url(), Url(ResourceType::kCluster));
  EXPECT_FALSE(first->version_info().empty());
  EXPECT_FALSE(first->nonce().empty());
  EXPECT_EQ(Names(*first), (std::set<std::string>{"a", "b"}));

  ASSERT_TRUE(stream.Send(SotwAck(*first)));
  EXPECT_THAT(stream.Drain(), IsEmpty()) << "an ACKed version was sent again";

  cache.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 500)},
                                        {ResourceType::kCluster, ClusterResource("b", 250)}}));
  std::optional<DiscoveryResponse> second = stream.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(second->version_info(), first->version_info());
  EXPECT_NE(second->nonce(), first->nonce());
  EXPECT_EQ(Names(*second), (std::set<std::string>{"a", "b"}));
  ASSERT_TRUE(stream.Send(SotwAck(*second)));

  // The same content again (a new snapshot object): versions are content
  // hashes, so nothing is re-sent.
  cache.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 500)},
                                        {ResourceType::kCluster, ClusterResource("b", 250)}}));
  EXPECT_THAT(stream.Drain(), IsEmpty());

  // A removal is a new version without the resource.
  cache.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 500)}}));
  std::optional<DiscoveryResponse> third = stream.Next();
  ASSERT_TRUE(third.has_value());
  EXPECT_NE(third->version_info(), second->version_info());
  EXPECT_NE(third->nonce(), second->nonce());
  EXPECT_EQ(Names(*third), (std::set<std::string>{"a"}));
}

TEST_F(SotwTest, AdsAckIsNotResentAndNewSnapshotHasNewVersionAndNonce) {
  auto stream = OpenAds();
  CheckAckAndUpdates(cache_, *stream, "node-ads", Url(ResourceType::kCluster));
}

TEST_F(SotwTest, PerTypeAckIsNotResentAndNewSnapshotHasNewVersionAndNonce) {
  auto cds = ClusterDiscoveryService::NewStub(channel_);
  auto stream = OpenStream<SotwStream>(*cds, &ClusterDiscoveryService::Stub::StreamClusters);
  // On a per-type service an empty type_url means the service's type.
  CheckAckAndUpdates(cache_, *stream, "node-cds", "");
}

TEST_F(SotwTest, NackKeepsLastGoodVersionUntilSnapshotChangesAndShowsInCsds) {
  const std::string node = "node-nack";
  cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 250)}}));
  auto stream = OpenAds();
  ASSERT_TRUE(stream->Send(SotwRequest(node, Url(ResourceType::kCluster))));
  std::optional<DiscoveryResponse> good = stream->Next();
  ASSERT_TRUE(good.has_value());
  ASSERT_TRUE(stream->Send(SotwAck(*good)));

  cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 999)}}));
  std::optional<DiscoveryResponse> bad = stream->Next();
  ASSERT_TRUE(bad.has_value());
  ASSERT_NE(bad->version_info(), good->version_info());
  ASSERT_TRUE(stream->Send(
      SotwNack(*bad, good->version_info(), "cluster a: connect_timeout 999ms is not allowed")));
  EXPECT_THAT(stream->Drain(), IsEmpty()) << "a NACKed version was re-sent";

  // Shown in CSDS as NACKED with the client's error text.
  auto entry = AwaitCsdsEntry(channel_, node, ResourceType::kCluster, "a", [](const auto& e) {
    return e.client_status() == envoy::admin::v3::NACKED;
  });
  ASSERT_TRUE(entry.has_value()) << "CSDS does not list cluster a";
  EXPECT_EQ(entry->client_status(), envoy::admin::v3::NACKED);
  EXPECT_THAT(entry->error_state().details(),
              ::testing::HasSubstr("connect_timeout 999ms is not allowed"));
  EXPECT_EQ(registry_.totals().nacks, 1u);

  // The same (rejected) content again: still nothing.
  cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 999)}}));
  EXPECT_THAT(stream->Drain(), IsEmpty()) << "a NACKed version was re-sent";

  // A real change is sent, and its ACK clears the NACK in CSDS.
  cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 300)}}));
  std::optional<DiscoveryResponse> fixed = stream->Next();
  ASSERT_TRUE(fixed.has_value());
  EXPECT_NE(fixed->version_info(), bad->version_info());
  EXPECT_NE(fixed->version_info(), good->version_info());
  EXPECT_NE(fixed->nonce(), bad->nonce());
  ASSERT_TRUE(stream->Send(SotwAck(*fixed)));
  EXPECT_THAT(stream->Drain(), IsEmpty());
  entry = CsdsEntry(channel_, node, ResourceType::kCluster, "a");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->client_status(), envoy::admin::v3::ACKED);
  EXPECT_EQ(entry->version_info(), ClusterResource("a", 300)->version);
}

// Subscribing to other EDS names gives what the client does not hold yet of
// the new subset (load assignments it holds are not sent again).
void CheckEdsSubscriptionChanges(SnapshotCache& cache, SotwStream& stream,
                                 const std::string& node) {
  cache.SetSnapshot(node, MakeSnapshot({{ResourceType::kEndpoint, EndpointsResource("e1", 1)},
                                        {ResourceType::kEndpoint, EndpointsResource("e2", 2)},
                                        {ResourceType::kEndpoint, EndpointsResource("e3", 3)}}));
  const std::string url = Url(ResourceType::kEndpoint);
  ASSERT_TRUE(stream.Send(SotwRequest(node, url, {"e1", "e2"})));
  std::optional<DiscoveryResponse> response = stream.Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(Names(*response), (std::set<std::string>{"e1", "e2"}));
  EXPECT_EQ(EndpointPort(*response, "e2"), 2);

  // ACK that also changes the subscription.
  ASSERT_TRUE(stream.Send(SotwAck(*response, {"e2", "e3"})));
  response = stream.Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(Names(*response), (std::set<std::string>{"e3"}));

  ASSERT_TRUE(stream.Send(SotwAck(*response, {"e2", "e3"})));
  EXPECT_THAT(stream.Drain(), IsEmpty());

  // A name that does not exist yet, then appears.
  ASSERT_TRUE(stream.Send(SotwAck(*response, {"e3", "e4"})));
  response = stream.Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(Names(*response), (std::set<std::string>{})) << "e3 is held; e4 does not exist";
  ASSERT_TRUE(stream.Send(SotwAck(*response, {"e3", "e4"})));
  EXPECT_THAT(stream.Drain(), IsEmpty());
  cache.SetSnapshot(node, MakeSnapshot({{ResourceType::kEndpoint, EndpointsResource("e1", 1)},
                                        {ResourceType::kEndpoint, EndpointsResource("e3", 3)},
                                        {ResourceType::kEndpoint, EndpointsResource("e4", 4)}}));
  response = stream.Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(Names(*response), (std::set<std::string>{"e4"}));
  EXPECT_EQ(EndpointPort(*response, "e4"), 4);

  // A change to an unsubscribed resource sends nothing.
  ASSERT_TRUE(stream.Send(SotwAck(*response, {"e3", "e4"})));
  cache.SetSnapshot(node, MakeSnapshot({{ResourceType::kEndpoint, EndpointsResource("e1", 11)},
                                        {ResourceType::kEndpoint, EndpointsResource("e3", 3)},
                                        {ResourceType::kEndpoint, EndpointsResource("e4", 4)}}));
  EXPECT_THAT(stream.Drain(), IsEmpty());
}

TEST_F(SotwTest, AdsEdsSubscriptionChangesGiveTheNewSubset) {
  auto stream = OpenAds();
  CheckEdsSubscriptionChanges(cache_, *stream, "node-eds-ads");
}

TEST_F(SotwTest, PerTypeEdsSubscriptionChangesGiveTheNewSubset) {
  auto eds = EndpointDiscoveryService::NewStub(channel_);
  auto stream = OpenStream<SotwStream>(*eds, &EndpointDiscoveryService::Stub::StreamEndpoints);
  CheckEdsSubscriptionChanges(cache_, *stream, "node-eds");
}

TEST_F(SotwTest, AdsSendsClustersThenEndpointsThenListenersThenRoutes) {
  const std::string node = "node-order";
  auto stream = OpenAds();
  // Subscribe in the opposite order, before any configuration exists.
  ASSERT_TRUE(stream->Send(SotwRequest(node, Url(ResourceType::kRoute), {"r-x"})));
  ASSERT_TRUE(stream->Send(SotwRequest(node, Url(ResourceType::kListener))));
  ASSERT_TRUE(stream->Send(SotwRequest(node, Url(ResourceType::kEndpoint), {"c-x"})));
  ASSERT_TRUE(stream->Send(SotwRequest(node, Url(ResourceType::kCluster))));
  // The stream is open once the first request was read; give the other three
  // (already on the wire) a moment to be read too.
  for (int i = 0; i < 100 && registry_.ConnectedStreams() == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(registry_.ConnectedStreams(), 1u);
  std::this_thread::sleep_for(milliseconds(300));

  cache_.SetSnapshot(node, ServicesSnapshot({"x"}));
  std::vector<std::string> order;
  std::vector<DiscoveryResponse> responses;
  for (int i = 0; i < 4; ++i) {
    std::optional<DiscoveryResponse> response = stream->Next();
    ASSERT_TRUE(response.has_value()) << "only " << i << " responses";
    order.push_back(response->type_url());
    responses.push_back(*response);
  }
  EXPECT_THAT(order, ElementsAre(Url(ResourceType::kCluster), Url(ResourceType::kEndpoint),
                                 Url(ResourceType::kListener), Url(ResourceType::kRoute)));
  EXPECT_EQ(Names(responses[0]), std::set<std::string>{"c-x"});
  EXPECT_EQ(Names(responses[1]), std::set<std::string>{"c-x"});
  EXPECT_EQ(Names(responses[2]), std::set<std::string>{"l-x"});
  EXPECT_EQ(Names(responses[3]), std::set<std::string>{"r-x"});

  // ACK all, then change every type at once: the same order again.
  ASSERT_TRUE(stream->Send(SotwAck(responses[0])));
  ASSERT_TRUE(stream->Send(SotwAck(responses[1], {"c-x"})));
  ASSERT_TRUE(stream->Send(SotwAck(responses[2])));
  ASSERT_TRUE(stream->Send(SotwAck(responses[3], {"r-x"})));
  for (int i = 0; i < 200 && registry_.totals().acks < 4; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(registry_.totals().acks, 4u);
  EXPECT_THAT(stream->Drain(), IsEmpty());

  cache_.SetSnapshot(node,
                     MakeSnapshot({{ResourceType::kCluster, ClusterResource("c-x", 400)},
                                   {ResourceType::kEndpoint, EndpointsResource("c-x", 7)},
                                   {ResourceType::kListener, ListenerResource("l-x", "r-x", 9999)},
                                   {ResourceType::kRoute, RouteResource("r-x", "c-x", "/v2")}}));
  order.clear();
  for (int i = 0; i < 4; ++i) {
    std::optional<DiscoveryResponse> response = stream->Next();
    ASSERT_TRUE(response.has_value()) << "only " << i << " responses";
    order.push_back(response->type_url());
  }
  EXPECT_THAT(order, ElementsAre(Url(ResourceType::kCluster), Url(ResourceType::kEndpoint),
                                 Url(ResourceType::kListener), Url(ResourceType::kRoute)));
}

TEST_F(SotwTest, AdsRemovalsGoInReverseOrder) {
  const std::string node = "node-removal";
  cache_.SetSnapshot(node, ServicesSnapshot({"keep", "gone"}));
  auto stream = OpenAds();
  const std::vector<std::string> routes = {"r-keep", "r-gone"};
  const std::vector<std::string> endpoints = {"c-keep", "c-gone"};
  ASSERT_TRUE(stream->Send(SotwRequest(node, Url(ResourceType::kCluster))));
  ASSERT_TRUE(stream->Send(SotwRequest(node, Url(ResourceType::kEndpoint), endpoints)));
  ASSERT_TRUE(stream->Send(SotwRequest(node, Url(ResourceType::kListener))));
  ASSERT_TRUE(stream->Send(SotwRequest(node, Url(ResourceType::kRoute), routes)));
  auto names_of = [&](ResourceType type) {
    return type == ResourceType::kRoute      ? routes
           : type == ResourceType::kEndpoint ? endpoints
                                             : std::vector<std::string>{};
  };
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    std::optional<DiscoveryResponse> response = stream->Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(Names(*response).size(), 2u) << response->type_url();
    seen.insert(response->type_url());
    ASSERT_TRUE(
        stream->Send(SotwAck(*response, names_of(*ResourceTypeFromUrl(response->type_url())))));
  }
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_THAT(stream->Drain(), IsEmpty());

  // Remove the whole "gone" service: listener, route, cluster, endpoints.
  cache_.SetSnapshot(node, ServicesSnapshot({"keep"}));
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    std::optional<DiscoveryResponse> response = stream->Next();
    ASSERT_TRUE(response.has_value()) << "only " << i << " responses";
    order.push_back(response->type_url());
    // Listeners and clusters come complete; routes and load assignments
    // carry only changes, and the kept ones did not change.
    const std::string url = response->type_url();
    const std::set<std::string> expected =
        url == Url(ResourceType::kListener)  ? std::set<std::string>{"l-keep"}
        : url == Url(ResourceType::kCluster) ? std::set<std::string>{"c-keep"}
                                             : std::set<std::string>{};
    EXPECT_EQ(Names(*response), expected) << url;
    // Nothing else may come before this removal is ACKed.
    EXPECT_THAT(stream->Drain(milliseconds(150)), IsEmpty())
        << "a further removal did not wait for the ACK of " << response->type_url();
    ASSERT_TRUE(
        stream->Send(SotwAck(*response, names_of(*ResourceTypeFromUrl(response->type_url())))));
  }
  EXPECT_THAT(order, ElementsAre(Url(ResourceType::kRoute), Url(ResourceType::kListener),
                                 Url(ResourceType::kEndpoint), Url(ResourceType::kCluster)));
  EXPECT_THAT(stream->Drain(), IsEmpty());
}

TEST_F(SotwTest, PerTypeListenerStreamServesOnlyListeners) {
  const std::string node = "node-lds";
  cache_.SetSnapshot(node, ServicesSnapshot({"a", "b"}));
  auto lds = ListenerDiscoveryService::NewStub(channel_);
  auto stream = OpenStream<SotwStream>(*lds, &ListenerDiscoveryService::Stub::StreamListeners);
  ASSERT_TRUE(stream->Send(SotwRequest(node, Url(ResourceType::kListener))));
  std::optional<DiscoveryResponse> response = stream->Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->type_url(), Url(ResourceType::kListener));
  EXPECT_EQ(Names(*response), (std::set<std::string>{"l-a", "l-b"}));
  ASSERT_TRUE(stream->Send(SotwAck(*response)));
  // Per-type streams do not hold removals back: the listener goes at once.
  cache_.SetSnapshot(node, ServicesSnapshot({"a"}));
  response = stream->Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(Names(*response), (std::set<std::string>{"l-a"}));
}

// A stream that never reads does not hold up another node's stream, and
// when it reads again it gets the newest version, not a backlog.
TEST_F(SotwTest, SlowClientDoesNotBlockOthersAndGetsOnlyTheNewest) {
  constexpr int kUpdates = 40;
  auto stuck = OpenAds(/*start_reading=*/false);
  auto fast = OpenAds();
  const std::vector<std::string> eds = {"c-a", "c-b", "c-c"};
  ASSERT_TRUE(stuck->Send(SotwRequest("stuck", Url(ResourceType::kEndpoint), eds)));
  ASSERT_TRUE(stuck->Send(SotwRequest("stuck", Url(ResourceType::kCluster))));
  ASSERT_TRUE(fast->Send(SotwRequest("fast", Url(ResourceType::kEndpoint), eds)));

  std::string last_fast_version;
  for (int generation = 0; generation < kUpdates; ++generation) {
    cache_.SetSnapshot("stuck", ServicesSnapshot({"a", "b", "c"}, generation));
    cache_.SetSnapshot("fast", ServicesSnapshot({"a", "b", "c"}, generation));
    const auto start = std::chrono::steady_clock::now();
    std::optional<DiscoveryResponse> response = fast->Next(milliseconds(2000));
    ASSERT_TRUE(response.has_value()) << "update " << generation << " did not arrive";
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
    EXPECT_EQ(EndpointPort(*response, "c-b"), 20000 + generation);
    EXPECT_NE(response->version_info(), last_fast_version);
    last_fast_version = response->version_info();
    ASSERT_TRUE(fast->Send(SotwAck(*response, eds)));
  }

  // The stuck stream starts reading: the response that was in flight when
  // it stopped, then the newest generation, nothing in between.
  stuck->StartReading();
  std::vector<int> eds_ports;
  int cluster_responses = 0;
  for (int round = 0; round < 3; ++round) {
    for (const DiscoveryResponse& response : stuck->Drain()) {
      const bool eds_type = response.type_url() == Url(ResourceType::kEndpoint);
      if (eds_type) {
        eds_ports.push_back(EndpointPort(response, "c-a"));
      } else {
        ++cluster_responses;
      }
      ASSERT_TRUE(stuck->Send(SotwAck(response, eds_type ? eds : std::vector<std::string>{})));
    }
  }
  ASSERT_FALSE(eds_ports.empty());
  EXPECT_LE(eds_ports.size(), 2u) << "the stuck stream was sent a backlog";
  EXPECT_EQ(eds_ports.back(), 20000 + kUpdates - 1);
  EXPECT_EQ(cluster_responses, 1);  // clusters never changed
  EXPECT_THAT(stuck->Drain(), IsEmpty());
  // Two responses per type at most: the first and the newest.
  EXPECT_LE(registry_.totals().responses, static_cast<uint64_t>(kUpdates + 4));
}

}  // namespace
}  // namespace propsy::xds::testing
