// Incremental (delta) discovery over ADS and the per-type services.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "envoy/service/cluster/v3/cds.grpc.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/endpoint/v3/eds.grpc.pb.h"
#include "integration/xds_client.h"
#include "integration/xds_test_env.h"

namespace propsy::xds::testing {
namespace {

using envoy::service::cluster::v3::ClusterDiscoveryService;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::endpoint::v3::EndpointDiscoveryService;
using ::testing::IsEmpty;

using Names_ = std::set<std::string>;

class DeltaTest : public XdsPlaintextTest {
 protected:
  void SetUp() override {
    XdsPlaintextTest::SetUp();
    ads_ = AggregatedDiscoveryService::NewStub(channel_);
    cds_ = ClusterDiscoveryService::NewStub(channel_);
    eds_ = EndpointDiscoveryService::NewStub(channel_);
  }

  std::unique_ptr<DeltaStream> OpenDeltaAds() {
    return OpenStream<DeltaStream>(*ads_,
                                   &AggregatedDiscoveryService::Stub::DeltaAggregatedResources);
  }
  std::unique_ptr<DeltaStream> OpenDeltaClusters() {
    return OpenStream<DeltaStream>(*cds_, &ClusterDiscoveryService::Stub::DeltaClusters);
  }
  std::unique_ptr<DeltaStream> OpenDeltaEndpoints() {
    return OpenStream<DeltaStream>(*eds_, &EndpointDiscoveryService::Stub::DeltaEndpoints);
  }

  // A reconnecting client that says what it holds is sent only what changed,
  // and what it holds that is gone is listed in removed_resources.
  void CheckReconnect(const std::function<std::unique_ptr<DeltaStream>()>& open,
                      const std::string& node, const std::string& type_url_on_wire) {
    cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 250)},
                                           {ResourceType::kCluster, ClusterResource("b", 250)},
                                           {ResourceType::kCluster, ClusterResource("c", 250)}}));
    std::vector<std::pair<std::string, std::string>> held;
    {
      auto stream = open();
      ASSERT_TRUE(stream->Send(DeltaRequest(node, type_url_on_wire)));  // wildcard
      std::optional<DeltaDiscoveryResponse> response = stream->Next();
      ASSERT_TRUE(response.has_value());
      EXPECT_EQ(response->type_url(), Url(ResourceType::kCluster));
      EXPECT_EQ(Names(*response), (Names_{"a", "b", "c"}));
      EXPECT_THAT(Removed(*response), IsEmpty());
      EXPECT_FALSE(response->nonce().empty());
      for (const auto& resource : response->resources()) {
        held.emplace_back(resource.name(), resource.version());
      }
      ASSERT_TRUE(stream->Send(DeltaAck(*response)));
      EXPECT_THAT(stream->Drain(), IsEmpty());
    }
    // While disconnected: b changes, c goes away, d appears; a stays.
    cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 250)},
                                           {ResourceType::kCluster, ClusterResource("b", 500)},
                                           {ResourceType::kCluster, ClusterResource("d", 250)}}));
    auto stream = open();
    ASSERT_TRUE(stream->Send(DeltaRequest(node, type_url_on_wire, {}, {}, held)));
    std::optional<DeltaDiscoveryResponse> response = stream->Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(Names(*response), (Names_{"b", "d"}));
    EXPECT_EQ(Removed(*response), Names_{"c"});
    for (const auto& resource : response->resources()) {
      if (resource.name() == "b") {
        EXPECT_EQ(resource.version(), ClusterResource("b", 500)->version);
      }
    }
    ASSERT_TRUE(stream->Send(DeltaAck(*response)));
    EXPECT_THAT(stream->Drain(), IsEmpty());
  }

  // Explicit subscriptions of endpoints: subscribe, absent names, unsubscribe.
  void CheckSubscriptions(DeltaStream& stream, const std::string& node) {
    const std::string url = Url(ResourceType::kEndpoint);
    cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kEndpoint, EndpointsResource("e1", 1)},
                                           {ResourceType::kEndpoint, EndpointsResource("e2", 2)}}));
    ASSERT_TRUE(stream.Send(DeltaRequest(node, url, {"e1"})));
    std::optional<DeltaDiscoveryResponse> response = stream.Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(Names(*response), Names_{"e1"});
    EXPECT_THAT(Removed(*response), IsEmpty());
    ASSERT_TRUE(stream.Send(DeltaAck(*response)));

    // Adding names sends only the new ones; a missing one is reported removed.
    ASSERT_TRUE(stream.Send(DeltaRequest("", url, {"e2", "e9"})));
    response = stream.Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(Names(*response), Names_{"e2"});
    EXPECT_EQ(Removed(*response), Names_{"e9"});
    ASSERT_TRUE(stream.Send(DeltaAck(*response)));
    EXPECT_THAT(stream.Drain(), IsEmpty());

    // Unsubscribing sends nothing, and later changes of e1 are not sent.
    ASSERT_TRUE(stream.Send(DeltaRequest("", url, {}, {"e1"})));
    EXPECT_THAT(stream.Drain(), IsEmpty());
    cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kEndpoint, EndpointsResource("e1", 11)},
                                           {ResourceType::kEndpoint, EndpointsResource("e2", 2)}}));
    EXPECT_THAT(stream.Drain(), IsEmpty()) << "an unsubscribed resource was sent";

    // A subscribed one that changes is sent alone; one that goes is removed.
    cache_.SetSnapshot(node,
                       MakeSnapshot({{ResourceType::kEndpoint, EndpointsResource("e1", 11)},
                                     {ResourceType::kEndpoint, EndpointsResource("e2", 22)}}));
    response = stream.Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(Names(*response), Names_{"e2"});
    EXPECT_THAT(Removed(*response), IsEmpty());
    ASSERT_TRUE(stream.Send(DeltaAck(*response)));
    cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kEndpoint, EndpointsResource("e1", 11)},
                                           {ResourceType::kEndpoint, EndpointsResource("e9", 9)}}));
    response = stream.Next();
    ASSERT_TRUE(response.has_value());
    // e9 now exists and is subscribed; e2 is gone.
    EXPECT_EQ(Names(*response), Names_{"e9"});
    EXPECT_EQ(Removed(*response), Names_{"e2"});
    ASSERT_TRUE(stream.Send(DeltaAck(*response)));
    EXPECT_THAT(stream.Drain(), IsEmpty());
  }

  // A NACKed resource version is not sent again; the client keeps its last
  // good version (so returning to it sends nothing); a new version is sent.
  void CheckNack(DeltaStream& stream, const std::string& node,
                 const std::string& type_url_on_wire) {
    cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 250)},
                                           {ResourceType::kCluster, ClusterResource("b", 250)}}));
    ASSERT_TRUE(stream.Send(DeltaRequest(node, type_url_on_wire)));
    std::optional<DeltaDiscoveryResponse> response = stream.Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(Names(*response), (Names_{"a", "b"}));
    ASSERT_TRUE(stream.Send(DeltaAck(*response)));

    cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 999)},
                                           {ResourceType::kCluster, ClusterResource("b", 250)}}));
    response = stream.Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(Names(*response), Names_{"a"});
    ASSERT_TRUE(stream.Send(DeltaNack(*response, "cluster a: timeout 999ms rejected")));
    EXPECT_THAT(stream.Drain(), IsEmpty()) << "a NACKed version was re-sent";
    auto entry = AwaitCsdsEntry(channel_, node, ResourceType::kCluster, "a", [](const auto& e) {
      return e.client_status() == envoy::admin::v3::NACKED;
    });
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->client_status(), envoy::admin::v3::NACKED);
    EXPECT_THAT(entry->error_state().details(), ::testing::HasSubstr("timeout 999ms rejected"));

    // Same content again: nothing. Another resource changing does not drag
    // the rejected one along.
    cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 999)},
                                           {ResourceType::kCluster, ClusterResource("b", 260)}}));
    response = stream.Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(Names(*response), Names_{"b"});
    ASSERT_TRUE(stream.Send(DeltaAck(*response)));
    EXPECT_THAT(stream.Drain(), IsEmpty());

    // Back to the version the client kept: nothing to send.
    cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 250)},
                                           {ResourceType::kCluster, ClusterResource("b", 260)}}));
    EXPECT_THAT(stream.Drain(), IsEmpty());

    // A new version is sent.
    cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kCluster, ClusterResource("a", 300)},
                                           {ResourceType::kCluster, ClusterResource("b", 260)}}));
    response = stream.Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(Names(*response), Names_{"a"});
    ASSERT_EQ(response->resources_size(), 1);
    EXPECT_EQ(response->resources(0).version(), ClusterResource("a", 300)->version);
    ASSERT_TRUE(stream.Send(DeltaAck(*response)));
    EXPECT_THAT(stream.Drain(), IsEmpty());
    EXPECT_EQ(registry_.totals().nacks, 1u);
  }

  // The protocol's MUST: a name subscribed again is answered although the
  // client holds its version (it may have dropped it meanwhile), a name that
  // does not exist is listed removed again.
  void CheckResubscribe(DeltaStream& stream, const std::string& node) {
    const std::string url = Url(ResourceType::kEndpoint);
    cache_.SetSnapshot(node, MakeSnapshot({{ResourceType::kEndpoint, EndpointsResource("e1", 1)},
                                           {ResourceType::kEndpoint, EndpointsResource("e2", 2)}}));
    ASSERT_TRUE(stream.Send(DeltaRequest(node, url, {"e1", "e2", "e9"})));
    std::optional<DeltaDiscoveryResponse> response = stream.Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(Names(*response), (Names_{"e1", "e2"}));
    EXPECT_EQ(Removed(*response), Names_{"e9"});
    ASSERT_TRUE(stream.Send(DeltaAck(*response)));
    EXPECT_THAT(stream.Drain(), IsEmpty());

    ASSERT_TRUE(stream.Send(DeltaRequest("", url, {"e1", "e9"})));
    response = stream.Next();
    ASSERT_TRUE(response.has_value()) << "a subscribed name must be answered";
    EXPECT_EQ(Names(*response), Names_{"e1"});
    EXPECT_EQ(response->resources(0).version(), EndpointsResource("e1", 1)->version);
    EXPECT_EQ(Removed(*response), Names_{"e9"});
    ASSERT_TRUE(stream.Send(DeltaAck(*response)));
    EXPECT_THAT(stream.Drain(), IsEmpty()) << "answered once";
  }

  std::unique_ptr<AggregatedDiscoveryService::Stub> ads_;
  std::unique_ptr<ClusterDiscoveryService::Stub> cds_;
  std::unique_ptr<EndpointDiscoveryService::Stub> eds_;
};

TEST_F(DeltaTest, AdsReconnectWithInitialVersionsGetsOnlyChanges) {
  CheckReconnect([this] { return OpenDeltaAds(); }, "node-delta-ads", Url(ResourceType::kCluster));
}

TEST_F(DeltaTest, PerTypeReconnectWithInitialVersionsGetsOnlyChanges) {
  CheckReconnect([this] { return OpenDeltaClusters(); }, "node-delta-cds", "");
}

TEST_F(DeltaTest, AdsSubscribeAndUnsubscribe) {
  auto stream = OpenDeltaAds();
  CheckSubscriptions(*stream, "node-delta-sub-ads");
}

TEST_F(DeltaTest, PerTypeSubscribeAndUnsubscribe) {
  auto stream = OpenDeltaEndpoints();
  CheckSubscriptions(*stream, "node-delta-sub-eds");
}

TEST_F(DeltaTest, AdsNackIsNotResent) {
  auto stream = OpenDeltaAds();
  CheckNack(*stream, "node-delta-nack-ads", Url(ResourceType::kCluster));
}

TEST_F(DeltaTest, PerTypeNackIsNotResent) {
  auto stream = OpenDeltaClusters();
  CheckNack(*stream, "node-delta-nack-cds", Url(ResourceType::kCluster));
}

TEST_F(DeltaTest, AdsResubscribingAHeldNameIsAnswered) {
  auto stream = OpenDeltaAds();
  CheckResubscribe(*stream, "node-delta-resub-ads");
}

TEST_F(DeltaTest, PerTypeResubscribingAHeldNameIsAnswered) {
  auto stream = OpenDeltaEndpoints();
  CheckResubscribe(*stream, "node-delta-resub-eds");
}

// The protocol's other MUST: unsubscribing an explicit name that `*` still
// covers sends it again (the client may have dropped it with the name).
TEST_F(DeltaTest, AdsUnsubscribingANameTheWildcardCoversResendsIt) {
  const std::string node = "node-delta-unsub-wildcard";
  cache_.SetSnapshot(node, ServicesSnapshot({"a", "b"}));
  auto stream = OpenDeltaAds();
  const std::string url = Url(ResourceType::kListener);
  ASSERT_TRUE(stream->Send(DeltaRequest(node, url, {"*", "l-a", "l-gone"})));
  std::optional<DeltaDiscoveryResponse> response = stream->Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(Names(*response), (Names_{"l-a", "l-b"}));
  EXPECT_EQ(Removed(*response), Names_{"l-gone"});
  ASSERT_TRUE(stream->Send(DeltaAck(*response)));
  EXPECT_THAT(stream->Drain(), IsEmpty());

  ASSERT_TRUE(stream->Send(DeltaRequest("", url, {}, {"l-a", "l-gone"})));
  response = stream->Next();
  ASSERT_TRUE(response.has_value()) << "l-a must be sent again";
  EXPECT_EQ(Names(*response), Names_{"l-a"});
  EXPECT_EQ(Removed(*response), Names_{"l-gone"});
  ASSERT_TRUE(stream->Send(DeltaAck(*response)));
  EXPECT_THAT(stream->Drain(), IsEmpty());
}

TEST_F(DeltaTest, PerTypeUnsubscribingANameTheWildcardCoversResendsIt) {
  const std::string node = "node-delta-unsub-wildcard-cds";
  cache_.SetSnapshot(node, ServicesSnapshot({"a", "b"}));
  auto stream = OpenDeltaClusters();
  ASSERT_TRUE(stream->Send(DeltaRequest(node, "", {"*", "c-b"})));
  std::optional<DeltaDiscoveryResponse> response = stream->Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(Names(*response), (Names_{"c-a", "c-b"}));
  ASSERT_TRUE(stream->Send(DeltaAck(*response)));
  ASSERT_TRUE(stream->Send(DeltaRequest("", "", {}, {"c-b"})));
  response = stream->Next();
  ASSERT_TRUE(response.has_value()) << "c-b must be sent again";
  EXPECT_EQ(Names(*response), Names_{"c-b"});
}

TEST_F(DeltaTest, AdsUnsubscribingWildcardRemovesNothingTheClientHeldExplicitly) {
  const std::string node = "node-delta-wildcard";
  cache_.SetSnapshot(node, ServicesSnapshot({"a", "b"}));
  auto stream = OpenDeltaAds();
  const std::string url = Url(ResourceType::kListener);
  ASSERT_TRUE(stream->Send(DeltaRequest(node, url, {"*", "l-a"})));
  std::optional<DeltaDiscoveryResponse> response = stream->Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(Names(*response), (Names_{"l-a", "l-b"}));
  ASSERT_TRUE(stream->Send(DeltaAck(*response)));
  ASSERT_TRUE(stream->Send(DeltaRequest("", url, {}, {"*"})));
  EXPECT_THAT(stream->Drain(), IsEmpty());
  // l-b is no longer of interest; l-a still is.
  cache_.SetSnapshot(node, ServicesSnapshot({"a"}));
  EXPECT_THAT(stream->Drain(), IsEmpty());
  cache_.SetSnapshot(
      node, MakeSnapshot({{ResourceType::kListener, ListenerResource("l-a", "r-a", 12345)}}));
  response = stream->Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(Names(*response), Names_{"l-a"});
}

}  // namespace
}  // namespace propsy::xds::testing
