// DescribeServices: governing definitions and status conditions.

#include "translate/service_status.h"

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

WorldBuilder Clusters() {
  WorldBuilder builder;
  builder.ConfigCluster("bar", "bar").ConfigCluster("foo", "foo").EndpointCluster("e", "foo", 0);
  return builder;
}

const ServiceReport& Report(const std::vector<ServiceReport>& reports, const std::string& key) {
  for (const ServiceReport& report : reports) {
    if (report.key.ToString() == key) return report;
  }
  static const ServiceReport kMissing;
  ADD_FAILURE() << "no report for " << key;
  return kMissing;
}

const ServiceCondition& Condition(const ServiceReport& report, const std::string& type) {
  for (const ServiceCondition& condition : report.conditions) {
    if (condition.type == type) return condition;
  }
  static const ServiceCondition kMissing;
  ADD_FAILURE() << "no condition " << type << " on " << report.key.ToString();
  return kMissing;
}

model::ProPsyService Aged(model::ProPsyService pps, const std::string& timestamp) {
  pps.meta.creation_timestamp = timestamp;
  return pps;
}

TEST(DescribeServices, GoverningDefinitionPrefersTheLocalZone) {
  model::World world = Clusters()
                           .Service("bar", Pps("ns", "both"))
                           .Service("foo", Pps("ns", "both"))
                           .Service("bar", Pps("ns", "far"))
                           .Build();
  const auto reports = DescribeServices(world, kOptions);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].key.ToString(), "ns/both");  // sorted by key
  EXPECT_EQ(reports[0].governing_cluster, "foo");
  EXPECT_TRUE(reports[0].governing_is_local);
  EXPECT_EQ(reports[0].definitions, (std::vector<std::string>{"bar: ok", "foo: ok"}));
  EXPECT_TRUE(Condition(reports[0], "Accepted").status);
  EXPECT_EQ(Condition(reports[0], "Accepted").reason, "Accepted");
  EXPECT_EQ(reports[1].governing_cluster, "bar");
  EXPECT_FALSE(reports[1].governing_is_local);
}

TEST(DescribeServices, InvalidNewestVersion) {
  model::ProPsyService kept_good = Pps("ns", "kept");
  kept_good.spec.listen.port = 81;
  model::World world =
      Clusters()
          .InvalidService("foo", Key("ns", "kept"), "spec.percent: too big", kept_good)
          .InvalidService("foo", Key("ns", "gone"), "spec.listen: missing")
          .InvalidService("foo", Key("ns", "fallback"), "spec.nodes: empty")
          .Service("bar", Pps("ns", "fallback"))
          .Build();
  const auto reports = DescribeServices(world, kOptions);
  const ServiceReport& kept = Report(reports, "ns/kept");
  EXPECT_EQ(kept.governing_cluster, "foo");
  EXPECT_FALSE(Condition(kept, "Accepted").status);
  EXPECT_EQ(Condition(kept, "Accepted").reason, "Invalid");
  EXPECT_EQ(Condition(kept, "Accepted").message,
            "config cluster foo: spec.percent: too big; the last good version is still served");
  EXPECT_EQ(kept.definitions, std::vector<std::string>{"foo: spec.percent: too big"});

  const ServiceReport& gone = Report(reports, "ns/gone");
  EXPECT_EQ(gone.governing_cluster, "");
  EXPECT_EQ(Condition(gone, "Accepted").reason, "Invalid");
  EXPECT_EQ(Condition(gone, "Accepted").message,
            "config cluster foo: spec.listen: missing; nothing is served");
  EXPECT_EQ(gone.conditions.size(), 1u);  // no ResolvedRefs without a definition

  const ServiceReport& fallback = Report(reports, "ns/fallback");
  EXPECT_EQ(fallback.governing_cluster, "bar");
  EXPECT_EQ(Condition(fallback, "Accepted").reason, "Invalid");
  EXPECT_EQ(Condition(fallback, "Accepted").message,
            "config cluster foo: spec.nodes: empty; the definition from config cluster bar is "
            "served instead");
}

TEST(DescribeServices, Disabled) {
  model::ProPsyService off = Pps("ns", "off");
  off.spec.disabled = true;
  const auto reports = DescribeServices(Clusters().Service("foo", off).Build(), kOptions);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].definitions, std::vector<std::string>{"foo: disabled"});
  EXPECT_EQ(Condition(reports[0], "Accepted").reason, "Disabled");
  EXPECT_FALSE(Condition(reports[0], "Accepted").status);
}

TEST(DescribeServices, ConflictsNameTheWinnerWhereNodeListsOverlap) {
  model::ProPsyService older = Aged(Pps("ns", "older"), "2024-01-01T00:00:00Z");
  older.spec.path_prefix = "/a";
  older.spec.nodes = {"n1"};
  model::ProPsyService newer = Aged(Pps("ns", "newer"), "2024-02-01T00:00:00Z");
  newer.spec.path_prefix = "/a";
  newer.spec.nodes = {"*"};
  model::ProPsyService elsewhere = Aged(Pps("ns", "elsewhere"), "2024-03-01T00:00:00Z");
  elsewhere.spec.path_prefix = "/a";
  elsewhere.spec.nodes = {"n2"};
  elsewhere.spec.listen.port = 81;
  model::ProPsyService tcp = Aged(Pps("ns", "tcp"), "2024-04-01T00:00:00Z");
  tcp.spec.type = model::ServiceType::kTcp;
  tcp.spec.nodes = {"n3"};
  model::World world = Clusters()
                           .Service("foo", older)
                           .Service("foo", newer)
                           .Service("foo", elsewhere)
                           .Service("foo", tcp)
                           .Build();
  const auto reports = DescribeServices(world, kOptions);
  EXPECT_TRUE(Condition(Report(reports, "ns/older"), "Accepted").status);
  EXPECT_TRUE(Condition(Report(reports, "ns/elsewhere"), "Accepted").status);
  const ServiceCondition& lost = Condition(Report(reports, "ns/newer"), "Accepted");
  EXPECT_FALSE(lost.status);
  EXPECT_EQ(lost.reason, "Conflicted");
  EXPECT_EQ(lost.message, "listen 0.0.0.0:80 path /a is taken by ns/older");
  const ServiceCondition& tcp_lost = Condition(Report(reports, "ns/tcp"), "Accepted");
  EXPECT_EQ(tcp_lost.reason, "Conflicted");
  EXPECT_EQ(tcp_lost.message, "listen 0.0.0.0:80 is taken by HTTP service ns/newer");
}

TEST(DescribeServices, ResolvedRefs) {
  model::ProPsyService root = Pps("ns", "root");
  root.spec.tls_certificate_secret = "missing";
  model::ProPsyService api = Pps("ns", "api");
  api.spec.path_prefix = "/api";
  api.spec.tls_certificate_secret = "whatever";
  model::ProPsyService broken = Pps("ns", "broken");
  broken.spec.listen.port = 443;
  broken.spec.tls_certificate_secret = "bad";
  model::ProPsyService aging = Pps("ns", "aging");
  aging.spec.listen.port = 8443;
  aging.spec.tls_certificate_secret = "old";
  model::World world = Clusters()
                           .Service("foo", root)
                           .Service("foo", api)
                           .Service("foo", broken)
                           .Service("foo", aging)
                           .InvalidSecret("foo", "ns", "bad", "data[tls.key]: missing")
                           .Secret("foo", "ns", "old", "chain", "key", "data[tls.crt]: expired")
                           .Build();
  const auto reports = DescribeServices(world, kOptions);
  const ServiceCondition& missing = Condition(Report(reports, "ns/root"), "ResolvedRefs");
  EXPECT_FALSE(missing.status);
  EXPECT_EQ(missing.reason, "SecretNotFound");
  EXPECT_EQ(missing.message,
            "secret ns/missing not found in config cluster foo; the listener is not served");
  const ServiceCondition& rider = Condition(Report(reports, "ns/api"), "ResolvedRefs");
  EXPECT_FALSE(rider.status);
  EXPECT_EQ(rider.reason, "SecretNotFound");
  EXPECT_NE(rider.message.find("listener 0.0.0.0:80 is not served"), std::string::npos);
  const ServiceCondition& invalid = Condition(Report(reports, "ns/broken"), "ResolvedRefs");
  EXPECT_EQ(invalid.reason, "InvalidSecret");
  EXPECT_NE(invalid.message.find("data[tls.key]: missing"), std::string::npos);
  const ServiceCondition& aging_refs = Condition(Report(reports, "ns/aging"), "ResolvedRefs");
  EXPECT_TRUE(aging_refs.status);
  EXPECT_NE(aging_refs.message.find("last good version is still served"), std::string::npos);
}

}  // namespace
}  // namespace propsy::translate
