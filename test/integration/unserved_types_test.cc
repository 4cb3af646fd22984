// Types ProPsy does not serve (SPEC §4): answered as empty sets over ADS and
// over their own services, in both protocols, without disturbing the served
// types; counted per type. (A state-of-the-world runtime layer is answered
// as an empty layer: unserved_sotw_set.h.)

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/extension/v3/config_discovery.grpc.pb.h"
#include "envoy/service/route/v3/rds.grpc.pb.h"
#include "envoy/service/runtime/v3/rtds.grpc.pb.h"
#include "integration/xds_client.h"
#include "integration/xds_test_env.h"

namespace propsy::xds::testing {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::extension::v3::ExtensionConfigDiscoveryService;
using envoy::service::route::v3::VirtualHostDiscoveryService;
using envoy::service::runtime::v3::RuntimeDiscoveryService;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

using Names_ = std::set<std::string>;

constexpr char kRuntime[] = "type.googleapis.com/envoy.service.runtime.v3.Runtime";
constexpr char kExtensionConfig[] = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
constexpr char kVirtualHost[] = "type.googleapis.com/envoy.config.route.v3.VirtualHost";

class UnservedTypesTest : public XdsPlaintextTest {
 protected:
  void SetUp() override {
    XdsPlaintextTest::SetUp();
    ads_ = AggregatedDiscoveryService::NewStub(channel_);
  }
  std::unique_ptr<AggregatedDiscoveryService::Stub> ads_;
};

// What Envoy does with `layered_runtime` → `rtds_layer` over ADS: it asks
// for the runtime layer first and for clusters and listeners only once that
// is answered. State of the world cannot say "no such layer" (Envoy would
// wait 15 s), so the layer is answered as an empty layer.
TEST_F(UnservedTypesTest, SotwAdsAnswersTheRuntimeLayerAndThenServesAsUsual) {
  const std::string node = "node-rtds-sotw";
  cache_.SetSnapshot(node, ServicesSnapshot({"a"}));
  auto stream =
      OpenStream<SotwStream>(*ads_, &AggregatedDiscoveryService::Stub::StreamAggregatedResources);
  ASSERT_TRUE(stream->Send(SotwRequest(node, kRuntime, {"rtds-layer"})));
  std::optional<DiscoveryResponse> runtime = stream->Next();
  ASSERT_TRUE(runtime.has_value());
  EXPECT_EQ(runtime->type_url(), kRuntime);
  ASSERT_EQ(runtime->resources_size(), 1);
  envoy::service::runtime::v3::Runtime layer;
  ASSERT_TRUE(runtime->resources(0).UnpackTo(&layer));
  EXPECT_EQ(layer.name(), "rtds-layer");
  EXPECT_EQ(layer.layer().fields_size(), 0);
  EXPECT_FALSE(runtime->nonce().empty());
  ASSERT_TRUE(stream->Send(SotwAck(*runtime, {"rtds-layer"})));
  EXPECT_THAT(stream->Drain(), IsEmpty()) << "answered once";

  ASSERT_TRUE(stream->Send(SotwRequest("", Url(ResourceType::kCluster))));
  std::optional<DiscoveryResponse> clusters = stream->Next();
  ASSERT_TRUE(clusters.has_value());
  EXPECT_EQ(Names(*clusters), Names_{"c-a"});
  ASSERT_TRUE(stream->Send(SotwAck(*clusters)));
  ASSERT_TRUE(stream->Send(SotwRequest("", Url(ResourceType::kListener))));
  std::optional<DiscoveryResponse> listeners = stream->Next();
  ASSERT_TRUE(listeners.has_value());
  EXPECT_EQ(Names(*listeners), Names_{"l-a"});

  EXPECT_THAT(registry_.UnservedRequestsByType(), UnorderedElementsAre(Pair(kRuntime, 2u)));
  EXPECT_EQ(registry_.totals().acks, 1u) << "only the cluster ACK counts as configuration";
}

// Another unserved type on state-of-the-world ADS: an empty response; a
// NACK of it ends the exchange and is not counted as a configuration NACK.
TEST_F(UnservedTypesTest, SotwAdsAnswersOtherTypesWithAnEmptyResponse) {
  const std::string node = "node-ecds-sotw";
  cache_.SetSnapshot(node, ServicesSnapshot({"a"}));
  auto stream =
      OpenStream<SotwStream>(*ads_, &AggregatedDiscoveryService::Stub::StreamAggregatedResources);
  ASSERT_TRUE(stream->Send(SotwRequest(node, kExtensionConfig, {"filter-config"})));
  std::optional<DiscoveryResponse> response = stream->Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->type_url(), kExtensionConfig);
  EXPECT_EQ(response->resources_size(), 0);
  EXPECT_EQ(response->version_info(), SetVersion({}));
  ASSERT_TRUE(stream->Send(SotwNack(*response, "", "missing filter-config", {"filter-config"})));
  EXPECT_THAT(stream->Drain(), IsEmpty()) << "no resend loop";
  ASSERT_TRUE(stream->Send(SotwRequest("", Url(ResourceType::kCluster))));
  std::optional<DiscoveryResponse> clusters = stream->Next();
  ASSERT_TRUE(clusters.has_value());
  EXPECT_EQ(Names(*clusters), Names_{"c-a"});
  EXPECT_EQ(registry_.totals().nacks, 0u) << "the empty answer's NACK is not a config NACK";
}

TEST_F(UnservedTypesTest, DeltaAdsListsTheRuntimeLayerRemoved) {
  const std::string node = "node-rtds-delta";
  cache_.SetSnapshot(node, ServicesSnapshot({"a"}));
  auto stream =
      OpenStream<DeltaStream>(*ads_, &AggregatedDiscoveryService::Stub::DeltaAggregatedResources);
  ASSERT_TRUE(stream->Send(DeltaRequest(node, kRuntime, {"rtds-layer"})));
  std::optional<DeltaDiscoveryResponse> runtime = stream->Next();
  ASSERT_TRUE(runtime.has_value());
  EXPECT_EQ(runtime->type_url(), kRuntime);
  EXPECT_THAT(Names(*runtime), IsEmpty());
  EXPECT_EQ(Removed(*runtime), Names_{"rtds-layer"});
  ASSERT_TRUE(stream->Send(DeltaAck(*runtime)));
  ASSERT_TRUE(stream->Send(DeltaRequest("", Url(ResourceType::kCluster))));
  std::optional<DeltaDiscoveryResponse> clusters = stream->Next();
  ASSERT_TRUE(clusters.has_value());
  EXPECT_EQ(Names(*clusters), Names_{"c-a"});
  ASSERT_TRUE(stream->Send(DeltaAck(*clusters)));
  EXPECT_THAT(stream->Drain(), IsEmpty());
}

TEST_F(UnservedTypesTest, NothingIsAnsweredBeforeTheNodeHasConfiguration) {
  const std::string node = "node-rtds-early";
  auto stream =
      OpenStream<SotwStream>(*ads_, &AggregatedDiscoveryService::Stub::StreamAggregatedResources);
  ASSERT_TRUE(stream->Send(SotwRequest(node, kRuntime, {"rtds-layer"})));
  EXPECT_THAT(stream->Drain(), IsEmpty()) << "answered before ProPsy serves anything";
  cache_.SetSnapshot(node, ServicesSnapshot({"a"}));
  std::optional<DiscoveryResponse> runtime = stream->Next();
  ASSERT_TRUE(runtime.has_value());
  EXPECT_EQ(runtime->type_url(), kRuntime);
}

TEST_F(UnservedTypesTest, TheRuntimeServiceAnswersStreamsDeltaAndFetch) {
  const std::string node = "node-rtds-service";
  cache_.SetSnapshot(node, ServicesSnapshot({"a"}));
  auto rtds = RuntimeDiscoveryService::NewStub(channel_);

  auto sotw = OpenStream<SotwStream>(*rtds, &RuntimeDiscoveryService::Stub::StreamRuntime);
  ASSERT_TRUE(sotw->Send(SotwRequest(node, "", {"rtds-layer"})));
  std::optional<DiscoveryResponse> response = sotw->Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->type_url(), kRuntime);
  EXPECT_EQ(response->resources_size(), 1) << "an empty layer";
  ASSERT_TRUE(sotw->Send(SotwAck(*response, {"rtds-layer"})));
  EXPECT_THAT(sotw->Drain(), IsEmpty());

  auto delta = OpenStream<DeltaStream>(*rtds, &RuntimeDiscoveryService::Stub::DeltaRuntime);
  ASSERT_TRUE(delta->Send(DeltaRequest(node, kRuntime, {"rtds-layer"})));
  std::optional<DeltaDiscoveryResponse> delta_response = delta->Next();
  ASSERT_TRUE(delta_response.has_value());
  EXPECT_EQ(Removed(*delta_response), Names_{"rtds-layer"});

  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kExpectWithin));
  DiscoveryResponse fetched;
  grpc::Status status =
      rtds->FetchRuntime(&context, SotwRequest(node, kRuntime, {"rtds-layer"}), &fetched);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(fetched.type_url(), kRuntime);
  EXPECT_EQ(fetched.resources_size(), 1) << "an empty layer";
  EXPECT_EQ(fetched.version_info(), response->version_info());

  // A served type does not belong on the runtime service.
  auto foreign = OpenStream<SotwStream>(*rtds, &RuntimeDiscoveryService::Stub::StreamRuntime);
  ASSERT_TRUE(foreign->Send(SotwRequest(node, Url(ResourceType::kCluster))));
  status = foreign->AwaitStatus();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
}

TEST_F(UnservedTypesTest, ExtensionConfigsAndVirtualHostsOnTheirServices) {
  const std::string node = "node-ecds-vhds";
  cache_.SetSnapshot(node, ServicesSnapshot({"a"}));
  auto ecds = ExtensionConfigDiscoveryService::NewStub(channel_);
  auto extension =
      OpenStream<DeltaStream>(*ecds, &ExtensionConfigDiscoveryService::Stub::DeltaExtensionConfigs);
  ASSERT_TRUE(extension->Send(DeltaRequest(node, kExtensionConfig, {"*"})));
  std::optional<DeltaDiscoveryResponse> response = extension->Next();
  ASSERT_TRUE(response.has_value()) << "a wildcard subscription gets one empty answer";
  EXPECT_EQ(response->type_url(), kExtensionConfig);
  EXPECT_THAT(Names(*response), IsEmpty());
  EXPECT_THAT(Removed(*response), IsEmpty());

  auto vhds = VirtualHostDiscoveryService::NewStub(channel_);
  auto hosts =
      OpenStream<DeltaStream>(*vhds, &VirtualHostDiscoveryService::Stub::DeltaVirtualHosts);
  ASSERT_TRUE(hosts->Send(DeltaRequest(node, "", {"local_route/example.com"})));
  std::optional<DeltaDiscoveryResponse> host = hosts->Next();
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->type_url(), kVirtualHost);
  EXPECT_EQ(Removed(*host), Names_{"local_route/example.com"});
  EXPECT_THAT(registry_.UnservedRequestsByType(),
              UnorderedElementsAre(Pair(kExtensionConfig, 1u), Pair(kVirtualHost, 1u)));
}

}  // namespace
}  // namespace propsy::xds::testing
