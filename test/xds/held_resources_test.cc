#include "xds/held_resources.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_resources.h"

namespace propsy::xds {
namespace {

std::vector<std::string> Names(const HeldResources& held) {
  std::vector<std::string> names;
  for (const ResourcePtr& resource : held) names.push_back(resource->name);
  return names;
}

TEST(HeldResourcesTest, KeepsOneResourcePerNameInNameOrder) {
  HeldResources held;
  ResourcePtr b = test::ClusterRes("b");
  EXPECT_EQ(held.Put(b), nullptr);
  EXPECT_EQ(held.Put(test::ClusterRes("c")), nullptr);
  EXPECT_EQ(held.Put(test::ClusterRes("a")), nullptr);
  EXPECT_THAT(Names(held), ::testing::ElementsAre("a", "b", "c"));

  ResourcePtr newer_b = test::ClusterRes("b", 999);
  EXPECT_EQ(held.Put(newer_b), b) << "replacing returns what was held";
  EXPECT_EQ(held.Find("b"), newer_b.get());
  EXPECT_EQ(held.size(), 3u);
  EXPECT_EQ(held.Find("missing"), nullptr);
}

TEST(HeldResourcesTest, EraseAndEraseIf) {
  HeldResources held;
  for (std::string name : {"a", "b", "c", "d"}) held.Put(test::ClusterRes(name));
  EXPECT_NE(held.Erase("b"), nullptr);
  EXPECT_EQ(held.Erase("b"), nullptr);
  held.EraseIf([](const Resource& resource) { return resource.name == "d"; });
  EXPECT_THAT(Names(held), ::testing::ElementsAre("a", "c"));
  EXPECT_TRUE(held.Contains("c"));
  EXPECT_FALSE(held.Contains("d"));
}

}  // namespace
}  // namespace propsy::xds
