// Cluster warming (warming.h): a Cluster response that adds or changes a
// cluster makes its load assignment due again on ADS, even when the client
// holds it unchanged, in both protocols.
#include "xds/warming.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "xds/delta_fake_client.h"
#include "xds/sotw_fake_client.h"
#include "xds/test_resources.h"

namespace propsy::xds {
namespace {

using test::ClusterRes;
using test::EndpointRes;
using test::NamesIn;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Clusters c1, c2 (c1 with `c1_timeout_ms`) and their load assignments,
// which never change here.
SnapshotPtr TwoClusters(int64_t c1_timeout_ms, bool with_c3 = false) {
  NodeSnapshotBuilder builder;
  builder.Add(ResourceType::kCluster, ClusterRes("c1", c1_timeout_ms))
      .Add(ResourceType::kCluster, ClusterRes("c2"))
      .Add(ResourceType::kEndpoint, EndpointRes("c1"))
      .Add(ResourceType::kEndpoint, EndpointRes("c2"));
  if (with_c3) {
    builder.Add(ResourceType::kCluster, ClusterRes("c3"))
        .Add(ResourceType::kEndpoint, EndpointRes("c3"));
  }
  return builder.Build();
}

TEST(LoadAssignmentNameTest, ServiceNameElseClusterNameForEdsClustersOnly) {
  auto named = test::EdsCluster("shop/web/primary");
  EXPECT_EQ(LoadAssignmentNameOf(*MakeResource("shop/web/primary", named)), "shop/web/primary");
  named.mutable_eds_cluster_config()->set_service_name("web-endpoints");
  EXPECT_EQ(LoadAssignmentNameOf(*MakeResource("shop/web/primary", named)), "web-endpoints");
  EXPECT_EQ(LoadAssignmentNameOf(*MakeResource("s", test::StaticCluster("s"))), std::nullopt);
  EXPECT_EQ(LoadAssignmentNameOf(*EndpointRes("c1")), std::nullopt) << "not a Cluster";
}

// SotW -----------------------------------------------------------------------

// Subscribes to clusters and to c1, c2's load assignments, answers and ACKs
// everything. Returns the nonce of the endpoint response.
std::string SotwSettle(test::FakeSotwClient& client, const SnapshotPtr& snapshot) {
  client.Subscribe(ResourceType::kCluster, {});
  client.Subscribe(ResourceType::kEndpoint, {"c1", "c2"});
  client.state().SetSnapshot(snapshot);
  std::string endpoint_nonce;
  while (std::optional<SotwStreamState::Response> response = client.Next()) {
    if (response->type_url() == TypeUrl(ResourceType::kEndpoint)) {
      endpoint_nonce = response->nonce();
    }
    client.Ack(*response);
  }
  return endpoint_nonce;
}

TEST(SotwWarmingTest, ChangedClusterGetsItsUnchangedLoadAssignmentAgain) {
  test::FakeSotwClient client(std::nullopt);
  SotwSettle(client, TwoClusters(250));
  const SnapshotPtr changed = TwoClusters(500);
  client.state().SetSnapshot(changed);

  std::optional<SotwStreamState::Response> clusters = client.Next();
  ASSERT_TRUE(clusters.has_value());
  EXPECT_EQ(clusters->type_url(), TypeUrl(ResourceType::kCluster));
  // Before the cluster response is ACKed (Envoy asks for the new cluster's
  // assignment while it applies the clusters): c1's assignment, the same
  // content and set version the client holds, with a fresh nonce.
  std::optional<SotwStreamState::Response> assignments = client.Next();
  ASSERT_TRUE(assignments.has_value()) << "c1's load assignment was not sent again";
  EXPECT_EQ(assignments->type_url(), TypeUrl(ResourceType::kEndpoint));
  EXPECT_THAT(NamesIn(*assignments), ElementsAre("c1"));
  EXPECT_EQ(assignments->version_info(), changed->Of(ResourceType::kEndpoint).version);
  EXPECT_NE(assignments->nonce(), clusters->nonce());

  client.Ack(*clusters);
  client.Ack(*assignments);
  EXPECT_FALSE(client.Next().has_value()) << "warming answers once";
}

TEST(SotwWarmingTest, ReRequestWhileTheWarmingAnswerIsInFlightIsStale) {
  test::FakeSotwClient client(std::nullopt);
  const std::string held_nonce = SotwSettle(client, TwoClusters(250));
  ASSERT_FALSE(held_nonce.empty());
  client.state().SetSnapshot(TwoClusters(500));
  std::optional<SotwStreamState::Response> clusters = client.Next();
  std::optional<SotwStreamState::Response> assignments = client.Next();
  ASSERT_TRUE(clusters.has_value());
  ASSERT_TRUE(assignments.has_value());
  // What Envoy sends when its new cluster starts warming, before it read the
  // answer: the same names with the previous nonce.
  RequestEvent re_request = client.Send(test::MakeSotwRequest(
      ResourceType::kEndpoint, {"c1", "c2"}, assignments->version_info(), held_nonce));
  EXPECT_EQ(re_request.kind, RequestEvent::Kind::kStaleNonce);
  client.Ack(*clusters);
  client.Ack(*assignments);
  EXPECT_FALSE(client.Next().has_value());
}

TEST(SotwWarmingTest, AssignmentInFlightDelaysTheWarmingAnswerUntilItsAck) {
  test::FakeSotwClient client(std::nullopt);
  SotwSettle(client, TwoClusters(250));
  // c2's endpoints change and go out; then c1's cluster changes.
  SnapshotPtr endpoints_changed = NodeSnapshotBuilder()
                                      .Add(ResourceType::kCluster, ClusterRes("c1", 250))
                                      .Add(ResourceType::kCluster, ClusterRes("c2"))
                                      .Add(ResourceType::kEndpoint, EndpointRes("c1"))
                                      .Add(ResourceType::kEndpoint, EndpointRes("c2", "10.0.0.9"))
                                      .Build();
  client.state().SetSnapshot(endpoints_changed);
  std::optional<SotwStreamState::Response> c2 = client.Next();
  ASSERT_TRUE(c2.has_value());
  EXPECT_THAT(NamesIn(*c2), ElementsAre("c2"));
  client.state().SetSnapshot(NodeSnapshotBuilder()
                                 .Add(ResourceType::kCluster, ClusterRes("c1", 500))
                                 .Add(ResourceType::kCluster, ClusterRes("c2"))
                                 .Add(ResourceType::kEndpoint, EndpointRes("c1"))
                                 .Add(ResourceType::kEndpoint, EndpointRes("c2", "10.0.0.9"))
                                 .Build());
  std::optional<SotwStreamState::Response> clusters = client.Next();
  ASSERT_TRUE(clusters.has_value());
  EXPECT_EQ(clusters->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_FALSE(client.Next().has_value()) << "one endpoint response in flight";
  client.Ack(*c2);
  std::optional<SotwStreamState::Response> assignments = client.Next();
  ASSERT_TRUE(assignments.has_value());
  EXPECT_THAT(NamesIn(*assignments), ElementsAre("c1"));
}

TEST(SotwWarmingTest, UnchangedAndNewClustersSendNothingExtra) {
  test::FakeSotwClient client(std::nullopt);
  SotwSettle(client, TwoClusters(250));
  // c3 is new: its assignment goes out when the client subscribes to it,
  // once.
  client.state().SetSnapshot(TwoClusters(250, /*with_c3=*/true));
  std::optional<SotwStreamState::Response> clusters = client.Next();
  ASSERT_TRUE(clusters.has_value());
  EXPECT_EQ(clusters->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_FALSE(client.Next().has_value()) << "c1 and c2 did not change; c3 is not subscribed";
  client.Ack(*clusters);
  client.Subscribe(ResourceType::kEndpoint, {"c1", "c2", "c3"});
  std::optional<SotwStreamState::Response> c3 = client.Next();
  ASSERT_TRUE(c3.has_value());
  EXPECT_THAT(NamesIn(*c3), ElementsAre("c3"));
  client.Ack(*c3);
  EXPECT_FALSE(client.Next().has_value());
}

TEST(SotwWarmingTest, PerTypeClusterStreamIsUnaffected) {
  test::FakeSotwClient client(ResourceType::kCluster);
  client.Subscribe(ResourceType::kCluster, {});
  client.state().SetSnapshot(TwoClusters(250));
  std::optional<SotwStreamState::Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.state().SetSnapshot(TwoClusters(500));
  std::optional<SotwStreamState::Response> changed = client.Next();
  ASSERT_TRUE(changed.has_value());
  client.Ack(*changed);
  EXPECT_FALSE(client.Next().has_value());
}

// Delta ----------------------------------------------------------------------

void DeltaSettle(test::FakeDeltaClient& client, const SnapshotPtr& snapshot) {
  client.Subscribe(ResourceType::kCluster, {"*"});
  client.Subscribe(ResourceType::kEndpoint, {"c1", "c2"});
  client.state().SetSnapshot(snapshot);
  while (std::optional<DeltaStreamState::Response> response = client.Next()) client.Ack(*response);
}

TEST(DeltaWarmingTest, ChangedClusterGetsItsUnchangedLoadAssignmentAgain) {
  test::FakeDeltaClient client(std::nullopt);
  DeltaSettle(client, TwoClusters(250));
  client.state().SetSnapshot(TwoClusters(500));

  std::optional<DeltaStreamState::Response> clusters = client.Next();
  ASSERT_TRUE(clusters.has_value());
  EXPECT_EQ(clusters->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_THAT(NamesIn(*clusters), ElementsAre("c1"));
  // Envoy is subscribed to c1's assignment already and asks for nothing:
  // it is sent anyway, unchanged.
  std::optional<DeltaStreamState::Response> assignments = client.Next();
  ASSERT_TRUE(assignments.has_value()) << "c1's load assignment was not sent again";
  EXPECT_EQ(assignments->type_url(), TypeUrl(ResourceType::kEndpoint));
  EXPECT_THAT(NamesIn(*assignments), ElementsAre("c1"));
  EXPECT_EQ(assignments->resources(0).version(), EndpointRes("c1")->version);
  EXPECT_THAT(test::RemovedIn(*assignments), IsEmpty());

  client.Ack(*clusters);
  client.Ack(*assignments);
  EXPECT_FALSE(client.Next().has_value()) << "warming answers once";
}

TEST(DeltaWarmingTest, NewClusterAndUnsubscribedAssignmentSendNothingExtra) {
  test::FakeDeltaClient client(std::nullopt);
  DeltaSettle(client, TwoClusters(250));
  client.state().SetSnapshot(TwoClusters(250, /*with_c3=*/true));
  std::optional<DeltaStreamState::Response> clusters = client.Next();
  ASSERT_TRUE(clusters.has_value());
  EXPECT_THAT(NamesIn(*clusters), ElementsAre("c3"));
  EXPECT_FALSE(client.Next().has_value()) << "c3's assignment is not subscribed yet";
  client.Ack(*clusters);
  client.Subscribe(ResourceType::kEndpoint, {"c3"});
  std::optional<DeltaStreamState::Response> c3 = client.Next();
  ASSERT_TRUE(c3.has_value());
  EXPECT_THAT(NamesIn(*c3), ElementsAre("c3"));
  client.Ack(*c3);
  EXPECT_FALSE(client.Next().has_value());
}

TEST(DeltaWarmingTest, PerTypeClusterStreamIsUnaffected) {
  test::FakeDeltaClient client(ResourceType::kCluster);
  client.Subscribe(ResourceType::kCluster, {"*"});
  client.state().SetSnapshot(TwoClusters(250));
  std::optional<DeltaStreamState::Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.state().SetSnapshot(TwoClusters(500));
  std::optional<DeltaStreamState::Response> changed = client.Next();
  ASSERT_TRUE(changed.has_value());
  EXPECT_THAT(NamesIn(*changed), ElementsAre("c1"));
  client.Ack(*changed);
  EXPECT_FALSE(client.Next().has_value());
}

}  // namespace
}  // namespace propsy::xds
