#include "xds/resource.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "xds/test_resources.h"

namespace propsy::xds {
namespace {

using envoy::config::cluster::v3::Cluster;
using test::EdsCluster;
using test::Routes;

// A cluster with map-valued metadata: its serialization depends on map
// iteration order unless it is deterministic.
Cluster ClusterWithMetadata(const std::vector<std::string>& keys) {
  Cluster cluster = EdsCluster("meta");
  auto& filter_metadata = *cluster.mutable_metadata()->mutable_filter_metadata();
  for (const std::string& key : keys) {
    auto& fields = *filter_metadata[key].mutable_fields();
    for (const std::string& field : keys) fields[field].set_string_value(key + field);
  }
  return cluster;
}

TEST(MakeResourceTest, WrapsTheMessageWithItsTypeUrl) {
  Cluster cluster = EdsCluster("c1");
  ResourcePtr resource = MakeResource("c1", cluster);
  ASSERT_NE(resource, nullptr);
  EXPECT_EQ(resource->name, "c1");
  EXPECT_FALSE(resource->version.empty());
  EXPECT_EQ(resource->body.type_url(), TypeUrl(ResourceType::kCluster));
  Cluster decoded;
  ASSERT_TRUE(resource->body.UnpackTo(&decoded));
  EXPECT_EQ(decoded.SerializeAsString(), cluster.SerializeAsString());
}

TEST(MakeResourceTest, VersionIsAContentHash) {
  ResourcePtr a = MakeResource("c1", EdsCluster("c1", 250));
  ResourcePtr b = MakeResource("c1", EdsCluster("c1", 250));
  ResourcePtr changed = MakeResource("c1", EdsCluster("c1", 251));
  EXPECT_EQ(a->version, b->version);
  EXPECT_EQ(a->body.value(), b->body.value());
  EXPECT_NE(a->version, changed->version);
  // Different message types give different versions too.
  EXPECT_NE(MakeResource("x", Routes("x", "c1"))->version,
            MakeResource("x", Routes("x", "c2"))->version);
}

TEST(MakeResourceTest, SerializationIsDeterministic) {
  // Same content built with map entries inserted in opposite orders.
  Cluster forward = ClusterWithMetadata({"alpha", "beta", "gamma", "delta", "epsilon"});
  Cluster backward = ClusterWithMetadata({"epsilon", "delta", "gamma", "beta", "alpha"});
  ResourcePtr first = MakeResource("meta", forward);
  for (int i = 0; i < 20; ++i) {
    ResourcePtr again = MakeResource("meta", i % 2 == 0 ? forward : backward);
    EXPECT_EQ(again->body.value(), first->body.value());
    EXPECT_EQ(again->version, first->version);
  }
}

TEST(ResourceInternerTest, IdenticalResourcesShareOneInstance) {
  ResourceInterner interner;
  ResourcePtr a = interner.Intern("c1", EdsCluster("c1"));
  ResourcePtr b = interner.Intern("c1", EdsCluster("c1"));
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(a->version, b->version);
  EXPECT_EQ(interner.LiveCount(), 1u);
  // The interned resource equals what MakeResource builds.
  ResourcePtr made = MakeResource("c1", EdsCluster("c1"));
  EXPECT_EQ(a->version, made->version);
  EXPECT_EQ(a->body.SerializeAsString(), made->body.SerializeAsString());
}

TEST(ResourceInternerTest, DifferentContentOrNameIsADifferentResource) {
  ResourceInterner interner;
  ResourcePtr a = interner.Intern("c1", EdsCluster("c1", 250));
  ResourcePtr changed = interner.Intern("c1", EdsCluster("c1", 500));
  EXPECT_NE(a.get(), changed.get());
  EXPECT_NE(a->version, changed->version);

  // Same bytes under another name: another resource (names are identity).
  ResourcePtr renamed = interner.Intern("other", EdsCluster("c1", 250));
  EXPECT_NE(a.get(), renamed.get());
  EXPECT_EQ(renamed->name, "other");
  EXPECT_EQ(interner.LiveCount(), 3u);
}

TEST(ResourceInternerTest, LiveCountDropsWhenReferencesGo) {
  ResourceInterner interner;
  ResourcePtr kept = interner.Intern("c1", EdsCluster("c1"));
  {
    ResourcePtr temporary = interner.Intern("c2", EdsCluster("c2"));
    ResourcePtr shared = interner.Intern("c2", EdsCluster("c2"));
    EXPECT_EQ(interner.LiveCount(), 2u);
  }
  EXPECT_EQ(interner.LiveCount(), 1u);
  kept.reset();
  EXPECT_EQ(interner.LiveCount(), 0u);

  // An expired entry is rebuilt on demand, and many short-lived resources do
  // not accumulate.
  for (int i = 0; i < 100; ++i) {
    std::string name = fmt::format("c{}", i);
    ResourcePtr resource = interner.Intern(name, EdsCluster(name));
    EXPECT_EQ(resource->name, name);
  }
  EXPECT_EQ(interner.LiveCount(), 0u);
  ResourcePtr back = interner.Intern("c1", EdsCluster("c1"));
  EXPECT_EQ(back->version, MakeResource("c1", EdsCluster("c1"))->version);
  EXPECT_EQ(interner.LiveCount(), 1u);
}

TEST(TypeResourcesTest, VersionFollowsEveryResource) {
  std::map<std::string, ResourcePtr> base = {{"c1", test::ClusterRes("c1")},
                                             {"c2", test::ClusterRes("c2")}};
  auto set = TypeResources::Make(base);
  EXPECT_EQ(set->by_name.size(), 2u);
  EXPECT_EQ(TypeResources::Make(base)->version, set->version) << "deterministic";

  auto changed = base;
  changed["c2"] = test::ClusterRes("c2", 999);
  EXPECT_NE(TypeResources::Make(changed)->version, set->version);

  auto added = base;
  added["c3"] = test::ClusterRes("c3");
  EXPECT_NE(TypeResources::Make(added)->version, set->version);

  auto removed = base;
  removed.erase("c1");
  EXPECT_NE(TypeResources::Make(removed)->version, set->version);

  // Renaming (same body under another key) changes the version too.
  std::map<std::string, ResourcePtr> renamed = {{"c1", base["c1"]}, {"c3", base["c2"]}};
  EXPECT_NE(TypeResources::Make(renamed)->version, set->version);

  EXPECT_NE(TypeResources::Empty()->version, set->version);
  EXPECT_TRUE(TypeResources::Empty()->by_name.empty());
  EXPECT_EQ(TypeResources::Empty()->version, TypeResources::Make({})->version);
}

}  // namespace
}  // namespace propsy::xds
