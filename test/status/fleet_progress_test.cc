// Programmed across replicas: the report's ConfigMap form, and how the
// leader combines the replicas' reports, believing only live ones (on the
// simulated clock).

#include "status/fleet_progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>

#include "status/fake_api_server.h"
#include "status/progress_report.h"
#include "status/replica_reports.h"

namespace propsy::status {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const model::ObjectKey kWeb{.namespace_name = "shop", .name = "web"};
const model::ObjectKey kApi{.namespace_name = "shop", .name = "api"};
constexpr Clock::Duration kStale = 15s;

translate::ObjectReport Described(size_t cluster, const model::ObjectKey& key, int64_t generation) {
  translate::ObjectReport report;
  report.config_cluster = cluster;
  report.key = key;
  report.generation = generation;
  return report;
}

ProgressReport Report(const std::string& replica, const std::string& generations,
                      std::map<model::ObjectKey, ObjectProgress> objects) {
  return {.replica = replica, .generations = generations, .objects = std::move(objects)};
}

TEST(ProgressReport, RoundTripsThroughItsConfigMap) {
  const ProgressReport report =
      Report("propsy-b_7", "digest-1",
             {{kWeb, {.generation = 3, .acknowledged = 1, .targeted = 2}},
              {kApi,
               {.generation = 1,
                .acknowledged = 0,
                .targeted = 1,
                .rejection = "node edge-2 rejected listener 0.0.0.0:80: \"bad\"\nline"}}});
  const std::string name = ReportName("propsy", report.replica);
  EXPECT_EQ(name, "propsy-progress-propsy-b-7");
  const std::string configmap =
      EncodeReport(report, name, "propsy-system", "propsy", "2026-01-02T03:04:05.000000Z");
  rapidjson::Document json;
  json.Parse(configmap.c_str());
  ASSERT_FALSE(json.HasParseError());
  EXPECT_STREQ(json["metadata"]["labels"][kReportLabel].GetString(), "propsy");
  EXPECT_STREQ(json["data"]["renewTime"].GetString(), "2026-01-02T03:04:05.000000Z");
  // As an API server lists it.
  json["metadata"].AddMember("resourceVersion", "42", json.GetAllocator());
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  json.Accept(writer);
  const std::string list =
      std::string(R"({"kind":"ConfigMapList","items":[)") + buffer.GetString() + "]}";
  absl::StatusOr<std::vector<ListedReport>> listed = DecodeReportList(list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, name);
  EXPECT_EQ((*listed)[0].resource_version, "42");
  ASSERT_TRUE((*listed)[0].report.ok()) << (*listed)[0].report.status();
  EXPECT_EQ(*(*listed)[0].report, report);
  EXPECT_TRUE(report.HoldsBack());
}

TEST(ProgressReport, AMalformedReportIsNamedAndTheOthersStillRead) {
  auto item = [](const std::string& name, const std::string& objects) {
    return R"({"metadata":{"name":")" + name +
           R"(","resourceVersion":"1"},"data":{"replica":"r","generations":"g","objects":)" +
           objects + "}}";
  };
  const std::string list = R"({"items":[)" + item("good", R"("[[\"shop/web\",1,1,1]]")") + "," +
                           item("bad", R"("[[\"web\",1,1,1]]")") + "," +
                           item("worse", R"("[[\"shop/web\",1,2,1]]")") + "," +
                           item("worst", R"("not json")") + "]}";
  absl::StatusOr<std::vector<ListedReport>> listed = DecodeReportList(list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 4u);
  EXPECT_TRUE((*listed)[0].report.ok());
  EXPECT_THAT((*listed)[1].report.status().message(), HasSubstr("data.objects[0]: the key"));
  EXPECT_THAT((*listed)[2].report.status().message(), HasSubstr("more nodes acknowledged"));
  EXPECT_THAT((*listed)[3].report.status().message(), HasSubstr("not a JSON array"));
  EXPECT_FALSE(DecodeReportList("[]").ok());
}

TEST(ProgressReport, NamesAreValidObjectNames) {
  EXPECT_EQ(ReportName("propsy", "Host.Example_12"), "propsy-progress-host.example-12");
  const std::string name = ReportName("propsy", std::string(400, 'x'));
  EXPECT_EQ(name.size(), 253u);
  EXPECT_NE(name, ReportName("propsy", std::string(401, 'x')));
}

TEST(ProgressReport, GenerationsDigestFollowsKeysAndGenerationsOfOneCluster) {
  std::vector<translate::ObjectReport> reports{Described(0, kWeb, 1), Described(0, kApi, 2),
                                               Described(1, kApi, 5)};
  const std::string before = GenerationsDigest(reports, 0);
  reports[2].generation = 6;  // another cluster
  EXPECT_EQ(GenerationsDigest(reports, 0), before);
  reports[1].generation = 3;
  EXPECT_NE(GenerationsDigest(reports, 0), before);
}

class CombineProgressTest : public ::testing::Test {
 protected:
  PeerReport Peer(ProgressReport report, Clock::Duration changed_ago,
                  std::optional<Clock::Duration> behind_for = std::nullopt) {
    PeerReport peer{.name = ReportName("propsy", report.replica),
                    .report = std::move(report),
                    .changed_at = clock_.Now() - changed_ago,
                    .behind_since = std::nullopt};
    if (behind_for) peer.behind_since = clock_.Now() - *behind_for;
    return peer;
  }
  ObjectProgress Combine(const ObjectProgress& own, const std::vector<PeerReport>& peers) {
    return CombineProgress(kWeb, own, peers, clock_.Now(), kStale);
  }

  SimulatedClock clock_;
  const ObjectProgress own_{.generation = 2, .acknowledged = 1, .targeted = 1};
};

TEST_F(CombineProgressTest, CountsSumOverReplicasReportingTheGeneration) {
  const PeerReport b =
      Peer(Report("b", "g", {{kWeb, {.generation = 2, .acknowledged = 2, .targeted = 3}}}), 1s);
  const PeerReport c =
      Peer(Report("c", "g", {{kWeb, {.generation = 2, .acknowledged = 4, .targeted = 4}}}), 1h);
  const ObjectProgress combined = Combine(own_, {b, c});
  EXPECT_EQ(combined.acknowledged, 7u);
  EXPECT_EQ(combined.targeted, 8u);
  EXPECT_TRUE(combined.unreported.empty());
  EXPECT_FALSE(combined.Complete());
}

TEST_F(CombineProgressTest, APeerRejectionNamesItsReplicaAfterTheLeadersOwn) {
  const PeerReport rejecting =
      Peer(Report("b", "g",
                  {{kWeb,
                    {.generation = 2,
                     .acknowledged = 0,
                     .targeted = 1,
                     .rejection = "node edge-b rejected cluster shop/web/primary: no"}}}),
           1s);
  ObjectProgress combined = Combine(own_, {rejecting});
  EXPECT_EQ(combined.rejection, "node edge-b rejected cluster shop/web/primary: no (on replica b)");
  EXPECT_EQ(combined.acknowledged, 1u);
  EXPECT_EQ(combined.targeted, 2u);
  ObjectProgress own_rejects = own_;
  own_rejects.rejection = "node edge-a rejected listener 0.0.0.0:80: mine";
  EXPECT_EQ(Combine(own_rejects, {rejecting}).rejection, own_rejects.rejection);
}

TEST_F(CombineProgressTest, AbsentFromAReportOfEqualGenerationsTargetsNoneOfItsNodes) {
  const ObjectProgress combined =
      Combine(own_, {Peer(Report("b", "g", {{kApi, {.generation = 1, .targeted = 1}}}), 1h)});
  EXPECT_TRUE(combined.Complete());
  EXPECT_EQ(combined.targeted, 1u);
}

TEST_F(CombineProgressTest, APeerThatHasNotCaughtUpIsWaitedForUntilStale) {
  // Its report has generation 1 of the object; the leader sees 2.
  ProgressReport behind =
      Report("b", "old", {{kWeb, {.generation = 1, .acknowledged = 1, .targeted = 1}}});
  ObjectProgress combined = Combine(own_, {Peer(behind, 1h, 2s)});
  EXPECT_EQ(combined.unreported, std::vector<std::string>{"replica b"});
  EXPECT_FALSE(combined.Complete());
  // It rewrote its report a moment ago (still behind): still waited for.
  EXPECT_FALSE(Combine(own_, {Peer(behind, 1s, 1h)}).Complete());
  // Neither caught up nor changed for stale_after: gone.
  EXPECT_TRUE(Combine(own_, {Peer(behind, kStale, kStale)}).Complete());
  EXPECT_EQ(Standing(Peer(behind, kStale, kStale), clock_.Now(), kStale), PeerStanding::kStale);
  EXPECT_EQ(Standing(Peer(behind, kStale - 1ms, 1h), clock_.Now(), kStale),
            PeerStanding::kCatchingUp);
}

TEST_F(CombineProgressTest, AReportHoldingBackMustBeRenewedToCount) {
  const ProgressReport pending =
      Report("b", "g", {{kWeb, {.generation = 2, .acknowledged = 0, .targeted = 1}}});
  EXPECT_EQ(Standing(Peer(pending, kStale - 1ms), clock_.Now(), kStale),
            PeerStanding::kHoldingBack);
  EXPECT_FALSE(Combine(own_, {Peer(pending, kStale - 1ms)}).Complete());
  // Not renewed within stale_after (a SIGKILLed replica): counts for nothing.
  EXPECT_EQ(Standing(Peer(pending, kStale), clock_.Now(), kStale), PeerStanding::kStale);
  const ObjectProgress combined = Combine(own_, {Peer(pending, kStale)});
  EXPECT_TRUE(combined.Complete());
  EXPECT_EQ(combined.targeted, 1u);
  // A complete report is believed however old: it holds nothing back.
  const ProgressReport done =
      Report("b", "g", {{kWeb, {.generation = 2, .acknowledged = 1, .targeted = 1}}});
  EXPECT_EQ(Standing(Peer(done, 24h), clock_.Now(), kStale), PeerStanding::kCurrent);
  EXPECT_EQ(Combine(own_, {Peer(done, 24h)}).targeted, 2u);
}

// ReplicaReports::Publish against an in-memory API server: written when
// changed (at most every min_interval), renewed only while it holds
// something back.
TEST(ReplicaReports, WritesWhenChangedAndRenewsOnlyWhileHoldingBack) {
  SimulatedClock clock;
  testing::FakeApiServer server;
  ReplicaReports reports(
      server, clock,
      {.cluster = "zone-a", .namespace_name = "default", .lease_name = "propsy", .replica = "a_1"});
  const std::string path = "/api/v1/namespaces/default/configmaps/propsy-progress-a-1";
  auto puts = [&] { return server.Count("PUT", path); };
  const ProgressReport pending =
      Report("a_1", "g", {{kWeb, {.generation = 1, .acknowledged = 0, .targeted = 1}}});
  reports.Offer(pending);
  EXPECT_EQ(reports.Publish(), clock.Now() + 5s);  // written; renewal due
  EXPECT_TRUE(server.Has(path));
  EXPECT_EQ(server.Count("POST"), 1u);  // created: the PUT found nothing
  clock.Advance(4s);
  reports.Offer(pending);
  EXPECT_EQ(reports.Publish(), clock.Now() + 1s);
  EXPECT_EQ(puts(), 1u);
  clock.Advance(1s);
  reports.Publish();
  EXPECT_EQ(puts(), 2u);  // renewed
  // Acknowledged: written once more (not before min_interval), then never.
  clock.Advance(1s);
  const ProgressReport done =
      Report("a_1", "g", {{kWeb, {.generation = 1, .acknowledged = 1, .targeted = 1}}});
  reports.Offer(done);
  EXPECT_EQ(reports.Publish(), clock.Now() + 1s);
  clock.Advance(1s);
  EXPECT_EQ(reports.Publish(), std::nullopt);
  EXPECT_EQ(puts(), 3u);
  for (int i = 0; i < 30; ++i) {
    clock.Advance(2s);
    reports.Offer(done);
    EXPECT_EQ(reports.Publish(), std::nullopt);
  }
  EXPECT_EQ(puts(), 3u);
  EXPECT_EQ(reports.writes(), 3u);
  // A failed write is retried after retry_after.
  server.SetOutage(true);
  reports.Offer(pending);
  EXPECT_EQ(reports.Publish(), clock.Now() + 2s);
  EXPECT_EQ(reports.errors(), 1u);
  server.SetOutage(false);
  clock.Advance(2s);
  reports.Publish();
  EXPECT_EQ(reports.writes(), 4u);
  reports.Withdraw();
  EXPECT_FALSE(server.Has(path));
}

TEST(ProgrammedConditionAcrossReplicas, PendingNamesTheReplicaNotYetReported) {
  const translate::ObjectReport report{
      .config_cluster = 0,
      .key = kWeb,
      .generation = 2,
      .accepted = {.type = "Accepted", .status = true, .reason = "Accepted", .message = ""},
      .resolved_refs = std::nullopt,
      .governs_zones = {"zone-a"}};
  const model::ProPsyServiceSpec spec;
  const auto condition = ProgrammedCondition(
      report, &spec,
      ObjectProgress{
          .generation = 2, .acknowledged = 1, .targeted = 1, .unreported = {"replica b"}});
  EXPECT_FALSE(condition.status);
  EXPECT_EQ(condition.reason, "Pending");
  EXPECT_EQ(condition.message,
            "1/1 nodes acknowledged; waiting for the progress report of replica b");
}

}  // namespace
}  // namespace propsy::status
