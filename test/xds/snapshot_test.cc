#include "xds/snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "xds/test_resources.h"

namespace propsy::xds {
namespace {

using test::ClusterRes;
using test::EndpointRes;
using test::FullSnapshot;
using test::ListenerRes;
using test::RouteRes;
using ::testing::HasSubstr;

TEST(NodeSnapshotTest, ConsistentSetIsOk) {
  EXPECT_TRUE(FullSnapshot()->CheckConsistent().ok()) << FullSnapshot()->CheckConsistent();
  EXPECT_TRUE(NodeSnapshotBuilder().Build()->CheckConsistent().ok());
}

TEST(NodeSnapshotTest, MissingTypesAreEmpty) {
  NodeSnapshot::Types types;
  types[Index(ResourceType::kCluster)] =
      TypeResources::Make({{"c1", MakeResource("c1", test::StaticCluster("c1"))}});
  NodeSnapshot snapshot(types);
  EXPECT_TRUE(snapshot.Of(ResourceType::kRoute).by_name.empty());
  EXPECT_EQ(snapshot.Of(ResourceType::kRoute).version, TypeResources::Empty()->version);
  EXPECT_EQ(snapshot.Of(ResourceType::kCluster).by_name.size(), 1u);
  EXPECT_TRUE(snapshot.CheckConsistent().ok());
}

TEST(NodeSnapshotTest, EdsClusterWithoutLoadAssignmentIsNamed) {
  SnapshotPtr snapshot = NodeSnapshotBuilder()
                             .Add(ResourceType::kCluster, ClusterRes("c1"))
                             .Add(ResourceType::kCluster, ClusterRes("orphan"))
                             .Add(ResourceType::kEndpoint, EndpointRes("c1"))
                             .Build();
  absl::Status status = snapshot->CheckConsistent();
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("\"orphan\""));
  EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("\"c1\"")));
}

TEST(NodeSnapshotTest, EdsServiceNameIsWhatMustExist) {
  auto cluster = test::EdsCluster("c1");
  cluster.mutable_eds_cluster_config()->set_service_name("c1-service");
  SnapshotPtr missing = NodeSnapshotBuilder()
                            .Add(ResourceType::kCluster, MakeResource("c1", cluster))
                            .Add(ResourceType::kEndpoint, EndpointRes("c1"))
                            .Build();
  absl::Status status = missing->CheckConsistent();
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("c1-service"));

  SnapshotPtr present = NodeSnapshotBuilder()
                            .Add(ResourceType::kCluster, MakeResource("c1", cluster))
                            .Add(ResourceType::kEndpoint, EndpointRes("c1-service"))
                            .Build();
  EXPECT_TRUE(present->CheckConsistent().ok()) << present->CheckConsistent();
}

TEST(NodeSnapshotTest, StaticClusterNeedsNoLoadAssignment) {
  SnapshotPtr snapshot =
      NodeSnapshotBuilder()
          .Add(ResourceType::kCluster, MakeResource("static", test::StaticCluster("static")))
          .Build();
  EXPECT_TRUE(snapshot->CheckConsistent().ok()) << snapshot->CheckConsistent();
}

TEST(NodeSnapshotTest, ListenerWithoutItsRouteConfigurationIsAnError) {
  SnapshotPtr snapshot = NodeSnapshotBuilder()
                             .Add(ResourceType::kListener, ListenerRes("l1", "r1", 10001))
                             .Add(ResourceType::kListener, ListenerRes("l2", "absent-route", 10002))
                             .Add(ResourceType::kRoute, RouteRes("r1", "c1"))
                             .Build();
  absl::Status status = snapshot->CheckConsistent();
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("absent-route"));

  SnapshotPtr fixed = NodeSnapshotBuilder()
                          .Add(ResourceType::kListener, ListenerRes("l1", "r1", 10001))
                          .Add(ResourceType::kListener, ListenerRes("l2", "absent-route", 10002))
                          .Add(ResourceType::kRoute, RouteRes("r1", "c1"))
                          .Add(ResourceType::kRoute, RouteRes("absent-route", "c1"))
                          .Build();
  EXPECT_TRUE(fixed->CheckConsistent().ok()) << fixed->CheckConsistent();
}

TEST(NodeSnapshotTest, BuilderKeepsTheLastResourceOfAName) {
  SnapshotPtr snapshot = NodeSnapshotBuilder()
                             .Add(ResourceType::kCluster, ClusterRes("c1", 100))
                             .Add(ResourceType::kCluster, ClusterRes("c1", 200))
                             .Build();
  ASSERT_EQ(snapshot->Of(ResourceType::kCluster).by_name.size(), 1u);
  EXPECT_EQ(snapshot->Of(ResourceType::kCluster).by_name.at("c1")->version,
            ClusterRes("c1", 200)->version);
}

}  // namespace
}  // namespace propsy::xds
