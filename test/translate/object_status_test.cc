// DescribeObjects: the conditions of each ProPsyService object in its own
// config cluster.

#include "translate/object_status.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "translate/world_builder.h"

namespace propsy::translate {
namespace {

using test::Key;
using test::Pps;
using test::WorldBuilder;

const TranslateOptions kOptions{.default_zone = "foo", .xds_cluster_name = "xds_cluster"};

const ObjectReport& Report(const std::vector<ObjectReport>& reports, size_t cluster,
                           const std::string& key) {
  for (const ObjectReport& report : reports) {
    if (report.config_cluster == cluster && report.key.ToString() == key) return report;
  }
  static const ObjectReport kMissing;
  ADD_FAILURE() << "no report for " << key << " in cluster " << cluster;
  return kMissing;
}

model::ProPsyService Aged(model::ProPsyService pps, const std::string& timestamp) {
  pps.meta.creation_timestamp = timestamp;
  return pps;
}

TEST(DescribeObjects, AnAcceptedObjectGovernsEverywhere) {
  const model::World world = WorldBuilder()
                                 .ConfigCluster("foo", "foo")
                                 .EndpointCluster("e", "foo", 0)
                                 .Service("foo", Pps("ns", "web"))
                                 .Build();
  const auto reports = DescribeObjects(world, kOptions);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].accepted.status);
  EXPECT_EQ(reports[0].accepted.reason, "Accepted");
  ASSERT_TRUE(reports[0].resolved_refs.has_value());
  EXPECT_TRUE(reports[0].resolved_refs->status);
  EXPECT_EQ(reports[0].generation, 1);
  EXPECT_EQ(reports[0].governs_zones, (std::vector<std::string>{"foo", kOtherZones}));
}

TEST(DescribeObjects, AnInvalidObjectNamesTheFieldPath) {
  const model::World world =
      WorldBuilder()
          .ConfigCluster("foo", "foo")
          .InvalidService("foo", Key("ns", "bad"), "spec.percent: must be between 0 and 100")
          .InvalidService("foo", Key("ns", "was-good"), "spec.listen: missing",
                          Pps("ns", "was-good"))
          .Build();
  const auto reports = DescribeObjects(world, kOptions);
  const ObjectReport& bad = Report(reports, 0, "ns/bad");
  EXPECT_FALSE(bad.accepted.status);
  EXPECT_EQ(bad.accepted.reason, "Invalid");
  EXPECT_EQ(bad.accepted.message,
            "spec.percent: must be between 0 and 100; this object is not used");
  EXPECT_FALSE(bad.resolved_refs.has_value());
  EXPECT_EQ(Report(reports, 0, "ns/was-good").accepted.message,
            "spec.listen: missing; the last good version of this object is still used");
}

TEST(DescribeObjects, TheYoungerOfTwoObjectsOnOneListenerIsConflictedAndNamesTheWinner) {
  model::ProPsyService older = Aged(Pps("ns", "old"), "2026-01-01T00:00:00Z");
  model::ProPsyService younger = Aged(Pps("ns", "new"), "2026-02-01T00:00:00Z");
  younger.spec.type = model::ServiceType::kTcp;  // TCP and HTTP on one address
  const model::World world = WorldBuilder()
                                 .ConfigCluster("foo", "foo")
                                 .Service("foo", older)
                                 .Service("foo", younger)
                                 .Build();
  const auto reports = DescribeObjects(world, kOptions);
  EXPECT_TRUE(Report(reports, 0, "ns/old").accepted.status);
  const ObjectReport& loser = Report(reports, 0, "ns/new");
  EXPECT_FALSE(loser.accepted.status);
  EXPECT_EQ(loser.accepted.reason, "Conflicted");
  EXPECT_NE(loser.accepted.message.find("ns/old"), std::string::npos) << loser.accepted.message;
}

TEST(DescribeObjects, ADifferentDefinitionInAnotherZoneIsOverriddenThere) {
  model::ProPsyService local = Pps("ns", "web");
  local.spec.percent = 30;
  model::ProPsyService remote = Pps("ns", "web");
  remote.spec.percent = 70;
  const model::World world = WorldBuilder()
                                 .ConfigCluster("foo", "foo")
                                 .ConfigCluster("bar", "bar")
                                 .Service("foo", local)
                                 .Service("bar", remote)
                                 .Build();
  const auto reports = DescribeObjects(world, kOptions);
  const ObjectReport& in_foo = Report(reports, 0, "ns/web");
  EXPECT_TRUE(in_foo.accepted.status);
  EXPECT_EQ(in_foo.accepted.reason, "Overridden");
  EXPECT_EQ(in_foo.accepted.message,
            "the definition from config cluster bar governs for nodes of zone bar; this object "
            "governs for nodes of zone foo, zones without a config cluster");
  const ObjectReport& in_bar = Report(reports, 1, "ns/web");
  EXPECT_TRUE(in_bar.accepted.status);
  EXPECT_EQ(in_bar.accepted.reason, "Overridden");
  EXPECT_EQ(in_bar.governs_zones, (std::vector<std::string>{"bar"}));
}

TEST(DescribeObjects, EqualDefinitionsInSeveralZonesAreAllAccepted) {
  const model::World world = WorldBuilder()
                                 .ConfigCluster("foo", "foo")
                                 .ConfigCluster("bar", "bar")
                                 .Service("foo", Pps("ns", "web"))
                                 .Service("bar", Pps("ns", "web"))
                                 .Build();
  for (const ObjectReport& report : DescribeObjects(world, kOptions)) {
    EXPECT_TRUE(report.accepted.status);
    EXPECT_EQ(report.accepted.reason, "Accepted") << report.accepted.message;
  }
}

TEST(DescribeObjects, ASecondDefinitionInTheSameZoneGovernsNowhere) {
  model::ProPsyService second = Pps("ns", "web");
  second.spec.percent = 10;
  const model::World world = WorldBuilder()
                                 .ConfigCluster("foo", "foo")
                                 .ConfigCluster("foo-2", "foo")
                                 .Service("foo", Pps("ns", "web"))
                                 .Service("foo-2", second)
                                 .Build();
  const std::vector<ObjectReport> reports = DescribeObjects(world, kOptions);
  const ObjectReport& report = Report(reports, 1, "ns/web");
  EXPECT_FALSE(report.accepted.status);
  EXPECT_EQ(report.accepted.reason, "Overridden");
  EXPECT_TRUE(report.governs_zones.empty());
  EXPECT_NE(report.accepted.message.find("governs for no node"), std::string::npos);
}

TEST(DescribeObjects, AMissingSecretIsReported) {
  model::ProPsyService tls = Pps("ns", "tls");
  tls.spec.tls_certificate_secret = "cert";
  const model::World world = WorldBuilder().ConfigCluster("foo", "foo").Service("foo", tls).Build();
  const std::vector<ObjectReport> reports = DescribeObjects(world, kOptions);
  const ObjectReport& report = Report(reports, 0, "ns/tls");
  ASSERT_TRUE(report.resolved_refs.has_value()) << report.accepted.message;
  EXPECT_FALSE(report.resolved_refs->status) << report.resolved_refs->message;
  EXPECT_EQ(report.resolved_refs->reason, "SecretNotFound");
}

}  // namespace
}  // namespace propsy::translate
