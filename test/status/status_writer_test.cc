// StatusWriter against an in-memory API server, fed Worlds decoded from that
// server's objects (as a Kubernetes source would), on simulated time.

#include "status/status_writer.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "model/cluster_objects.h"
#include "status/fake_api_server.h"
#include "status/progress_report.h"

namespace propsy::status {
namespace {

using namespace std::chrono_literals;

constexpr char kCollection[] = "/apis/propsy.seznam.cz/v1/namespaces/shop/propsyservices";

std::string PpsJson(const std::string& name, int port, int generation,
                    const std::string& listen = "") {
  return fmt::format(
      R"({{"apiVersion":"propsy.seznam.cz/v1","kind":"ProPsyService","metadata":{{"name":"{}",)"
      R"("namespace":"shop","generation":{},"creationTimestamp":"2026-01-01T00:00:00Z"}},)"
      R"("spec":{{"service":"web","servicePort":8080,"listen":"{}","nodes":["*"],"percent":100}}}})",
      name, generation, listen.empty() ? "127.0.0.1:" + std::to_string(port) : listen);
}

class StatusWriterTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (writer_) writer_->Stop();
  }

  void StartWriter(LeaseElector* elector = nullptr, double rate = 50, double burst = 100) {
    writer_ = std::make_unique<StatusWriter>(
        clock_,
        StatusWriterOptions{
            .translate = {.default_zone = "zone-a", .xds_cluster_name = "xds_cluster"},
            .writes_per_second = rate,
            .burst = burst,
            .reporting_instance = "test_1",
            .report_timing = {}},
        std::vector<StatusTarget>{{.name = "zone-a", .transport = &server_, .elector = elector}},
        nodes_, [](const xds::NodeInfo&) { return xds::SnapshotPtr(); });
    writer_->Start();
  }

  std::string Path(const std::string& name) const { return std::string(kCollection) + "/" + name; }

  void Create(const std::string& name, int port, int generation = 1,
              const std::string& listen = "") {
    server_.Put(Path(name), PpsJson(name, port, generation, listen));
  }

  // The World a Kubernetes source would publish now: every object as the
  // server holds it (status included).
  model::WorldPtr WorldFromServer() {
    model::ObjectStore store;
    for (const auto& request_path : names_) {
      const std::string json = server_.Get(Path(request_path));
      if (json.empty()) continue;
      rapidjson::Document object;
      object.Parse(json.c_str());
      (void)store.Upsert(object);  // invalid objects are kept with their error
    }
    auto world = std::make_shared<model::World>();
    world->config_clusters.push_back(
        {.info = {.name = "zone-a", .source = "/k/zone-a.yaml", .zone = "zone-a", .priority = 0},
         .objects = store.Snapshot(),
         .synced = true,
         .stale = false,
         .stale_since_unix_ms = 0,
         .statuses = store.Statuses()});
    return world;
  }

  // Polls (real time) until `done` or 5 s.
  bool Eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 500; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return done();
  }
  // Gives the writer time to act on what it has (it needs no clock for a
  // first evaluation), then says how many status patches went out.
  size_t SettledPatches() {
    std::this_thread::sleep_for(300ms);
    return server_.Count("PATCH", kCollection);
  }

  rapidjson::Document Object(const std::string& name) {
    rapidjson::Document object;
    object.Parse(server_.Get(Path(name)).c_str());
    return object;
  }
  // -1 while the object has no status (a Put replaces the whole object).
  int64_t ObservedGeneration(const std::string& name) {
    rapidjson::Document object = Object(name);
    if (!object.HasMember("status") || !object["status"].HasMember("observedGeneration")) return -1;
    return object["status"]["observedGeneration"].GetInt64();
  }
  std::string ConditionOf(const std::string& name, const std::string& type,
                          const std::string& field) {
    rapidjson::Document object = Object(name);
    if (!object.HasMember("status")) return "<no status>";
    for (const auto& condition : object["status"]["conditions"].GetArray()) {
      if (condition["type"].GetString() == type) return condition[field.c_str()].GetString();
    }
    return "<no " + type + ">";
  }

  SimulatedClock clock_;
  testing::FakeApiServer server_;
  xds::NodeStatusRegistry nodes_{clock_};
  std::unique_ptr<StatusWriter> writer_;
  std::vector<std::string> names_;
};

TEST_F(StatusWriterTest, WritesOnceAndNothingForAnUnchangedRelist) {
  names_ = {"web", "api"};
  Create("web", 8080);
  Create("api", 8081);
  StartWriter();
  writer_->OnWorld(WorldFromServer());
  ASSERT_TRUE(Eventually([&] { return server_.Count("PATCH", kCollection) == 2; }));
  EXPECT_EQ(ConditionOf("web", "Accepted", "status"), "True");
  EXPECT_EQ(ConditionOf("web", "Programmed", "status"), "True");
  EXPECT_EQ(ObservedGeneration("web"), 1);
  // Before the source saw the writes: nothing again.
  writer_->OnWorld(WorldFromServer());
  // The source relists: same objects, statuses included.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(1s);
    writer_->OnWorld(WorldFromServer());
  }
  EXPECT_EQ(SettledPatches(), 2u);
  EXPECT_EQ(writer_->counters(0).writes, 2u);
  EXPECT_EQ(server_.Count("POST", "/apis/events.k8s.io"), 0u);
}

TEST_F(StatusWriterTest, AWriteNotYetSeenBySourceIsNotRepeated) {
  names_ = {"web"};
  Create("web", 8080);
  const model::WorldPtr before = WorldFromServer();
  StartWriter();
  writer_->OnWorld(before);
  ASSERT_TRUE(Eventually([&] { return server_.Count("PATCH", kCollection) == 1; }));
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(1s);
    writer_->OnWorld(before);  // the watch event of our write has not come yet
  }
  EXPECT_EQ(SettledPatches(), 1u);
}

TEST_F(StatusWriterTest, AnInvalidObjectGetsInvalidWithTheFieldPathAndOneWarningEvent) {
  names_ = {"bad"};
  Create("bad", 0, 1, "not-an-address");
  StartWriter();
  writer_->OnWorld(WorldFromServer());
  ASSERT_TRUE(Eventually([&] { return server_.Count("PATCH", kCollection) == 1; }));
  EXPECT_EQ(ConditionOf("bad", "Accepted", "status"), "False");
  EXPECT_EQ(ConditionOf("bad", "Accepted", "reason"), "Invalid");
  EXPECT_NE(ConditionOf("bad", "Accepted", "message").find("spec.listen"), std::string::npos);
  EXPECT_EQ(ConditionOf("bad", "Programmed", "status"), "False");
  ASSERT_TRUE(Eventually([&] { return server_.Count("POST", "/apis/events.k8s.io") == 1; }));
  const std::string events = "/apis/events.k8s.io/v1/namespaces/shop/events";
  std::string event_json;
  for (const kube::HttpRequest& request : server_.requests()) {
    if (request.method == "POST" && request.path == events) event_json = request.body;
  }
  rapidjson::Document event;
  event.Parse(event_json.c_str());
  EXPECT_STREQ(event["type"].GetString(), "Warning");
  EXPECT_STREQ(event["reason"].GetString(), "Invalid");
  EXPECT_STREQ(event["regarding"]["name"].GetString(), "bad");
  // Still invalid in a new generation (the same reason): the Event's series
  // counts it instead of a new Event. (No World in between: one evaluated
  // after the clock moves would hold the next evaluation back on simulated
  // time that never comes.)
  ASSERT_EQ(server_
                .Send({.method = "PATCH",
                       .path = Path("bad"),
                       .headers = {},
                       .body = R"({"metadata":{"generation":2},"spec":{"percent":90}})",
                       .timeout = {}})
                ->status,
            200);
  clock_.Advance(1s);
  writer_->OnWorld(WorldFromServer());
  ASSERT_TRUE(Eventually([&] { return server_.Count("PATCH", events) == 1; }));
  EXPECT_EQ(server_.Count("POST", events), 1u);
  rapidjson::Document stored;
  stored.Parse(server_.Get(events + "/" + event["metadata"]["name"].GetString()).c_str());
  EXPECT_EQ(stored["series"]["count"].GetInt64(), 2);
}

TEST_F(StatusWriterTest, AConflictRereadsTheObjectAndWritesAgainstItsCurrentVersion) {
  names_ = {"web"};
  Create("web", 8080);
  StartWriter();
  writer_->OnWorld(WorldFromServer());
  ASSERT_TRUE(Eventually([&] { return server_.Count("PATCH", kCollection) == 1; }));
  // The World the writer gets has a new generation, but the object moved on
  // again meanwhile (another client's update): the patch's version is stale.
  ASSERT_EQ(server_
                .Send({.method = "PATCH",
                       .path = Path("web"),
                       .headers = {},
                       .body = R"({"metadata":{"generation":2},"spec":{"percent":80}})",
                       .timeout = {}})
                ->status,
            200);
  const model::WorldPtr world = WorldFromServer();
  ASSERT_EQ(server_
                .Send({.method = "PATCH",
                       .path = Path("web"),
                       .headers = {},
                       .body = R"({"metadata":{"labels":{"touched":"yes"}}})",
                       .timeout = {}})
                ->status,
            200);
  clock_.Advance(1s);
  writer_->OnWorld(world);
  ASSERT_TRUE(Eventually([&] { return writer_->counters(0).writes == 2; }));
  EXPECT_EQ(writer_->counters(0).conflicts, 1u);
  EXPECT_EQ(ObservedGeneration("web"), 2);
}

TEST_F(StatusWriterTest, NothingIsWrittenWithoutTheLease) {
  names_ = {"web"};
  Create("web", 8080);
  // An elector that never ran holds nothing.
  LeaseElector elector(
      server_, clock_,
      {.cluster = "zone-a", .namespace_name = "default", .name = "propsy", .identity = "me_1"});
  StartWriter(&elector);
  writer_->OnWorld(WorldFromServer());
  EXPECT_EQ(SettledPatches(), 0u);
  EXPECT_FALSE(writer_->counters(0).leader);
}

TEST_F(StatusWriterTest, ABurstIsRateLimited) {
  for (int i = 0; i < 10; ++i) {
    names_.push_back("s" + std::to_string(i));
    Create(names_.back(), 9000 + i);
  }
  StartWriter(nullptr, /*rate=*/2, /*burst=*/3);
  writer_->OnWorld(WorldFromServer());
  ASSERT_TRUE(Eventually([&] { return server_.Count("PATCH", kCollection) == 3; }));
  EXPECT_EQ(SettledPatches(), 3u);
  ASSERT_TRUE(clock_.AwaitWaiters(1));
  clock_.Advance(1s);  // two more tokens
  ASSERT_TRUE(Eventually([&] { return server_.Count("PATCH", kCollection) == 5; }));
  EXPECT_EQ(SettledPatches(), 5u);
  // The bucket holds at most `burst`: the rest follow at the rate.
  for (int i = 0; i < 10 && server_.Count("PATCH", kCollection) < 10; ++i) {
    ASSERT_TRUE(clock_.AwaitWaiters(1));
    clock_.Advance(1s);
    std::this_thread::sleep_for(50ms);
    EXPECT_LE(server_.Count("PATCH", kCollection), 5u + 2u * (i + 1));
  }
  EXPECT_EQ(server_.Count("PATCH", kCollection), 10u);
  EXPECT_EQ(writer_->counters(0).queued, 0u);
}

// The elector's own connection to the API server, which the test cuts.
class ElectorTransport : public kube::HttpTransport {
 public:
  explicit ElectorTransport(kube::HttpTransport& server) : server_(server) {}
  void Cut() { cut_ = true; }
  absl::StatusOr<kube::HttpResponse> Send(const kube::HttpRequest& request) override {
    if (cut_) return absl::UnavailableError("cut");
    return server_.Send(request);
  }
  absl::StatusOr<kube::HttpResponse> Stream(const kube::HttpRequest& request,
                                            const ChunkCallback& on_chunk,
                                            const std::atomic<bool>& cancelled) override {
    return server_.Stream(request, on_chunk, cancelled);
  }
  std::string Describe() const override { return "elector"; }

 private:
  kube::HttpTransport& server_;
  std::atomic<bool> cut_{false};
};

TEST_F(StatusWriterTest, LosingTheLeaseStopsWritesAtOnce) {
  names_ = {"web"};
  Create("web", 8080);
  ElectorTransport elector_transport(server_);
  LeaseElector elector(
      elector_transport, clock_,
      {.cluster = "zone-a", .namespace_name = "default", .name = "propsy", .identity = "me_1"});
  elector.Start();
  ASSERT_TRUE(Eventually([&] { return elector.IsLeader(); }));
  StartWriter(&elector);
  writer_->OnWorld(WorldFromServer());
  ASSERT_TRUE(Eventually([&] { return server_.Count("PATCH", kCollection) == 1; }));
  ASSERT_TRUE(Eventually([&] { return writer_->counters(0).leader; }));

  // The elector cannot renew: at the renew deadline it stops leading, and
  // nothing is written after that, whatever changes.
  elector_transport.Cut();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(clock_.AwaitWaiters(2));
    clock_.Advance(std::chrono::seconds(2));
    std::this_thread::sleep_for(30ms);
  }
  EXPECT_FALSE(elector.IsLeader());
  names_.push_back("api");
  Create("api", 8081);
  writer_->OnWorld(WorldFromServer());
  EXPECT_EQ(SettledPatches(), 1u);
  EXPECT_TRUE(Eventually([&] { return !writer_->counters(0).leader; }));
  writer_->Stop();
  elector.Stop();
}

// Programmed across replicas (docs/status.md, "Replicas"): the leader below
// has no node of its own; another replica's report, put on the API server
// as that replica would, says what its nodes did.
class ReplicaProgressTest : public StatusWriterTest {
 protected:
  static constexpr char kConfigMaps[] = "/api/v1/namespaces/default/configmaps";

  void StartLeader() {
    elector_ = std::make_unique<LeaseElector>(
        server_, clock_,
        LeaseElectorOptions{
            .cluster = "zone-a", .namespace_name = "default", .name = "propsy", .identity = "a_1"});
    elector_->Start();
    ASSERT_TRUE(Eventually([&] { return elector_->IsLeader(); }));
    StartWriter(elector_.get());
    writer_->OnWorld(WorldFromServer());
  }
  void TearDown() override {
    StatusWriterTest::TearDown();
    if (elector_) elector_->Stop();
  }
  // Replica b's report on `web` at generation 1 (its generations digest is
  // the leader's unless `generations` says otherwise).
  std::string PutPeerReport(std::optional<ObjectProgress> web, std::string generations = "") {
    if (generations.empty()) {
      generations = WebDigest();
    }
    ProgressReport report{.replica = "b_1", .generations = generations, .objects = {}};
    if (web) report.objects[{"shop", "web"}] = *web;
    const std::string name = ReportName("propsy", report.replica);
    server_.Put(std::string(kConfigMaps) + "/" + name,
                EncodeReport(report, name, "default", "propsy", "2026-01-01T00:00:00.000000Z"));
    return std::string(kConfigMaps) + "/" + name;
  }
  // The generations digest of `web` at generation 1 alone.
  static std::string WebDigest() {
    translate::ObjectReport web;
    web.key = {"shop", "web"};
    web.generation = 1;
    return GenerationsDigest({web}, 0);
  }
  // Moves simulated time in steps, each once the elector and the writer
  // wait again.
  void Pass(Clock::Duration total, Clock::Duration step = 1s) {
    for (Clock::Duration passed{}; passed < total; passed += step) {
      ASSERT_TRUE(clock_.AwaitWaiters(2));
      clock_.Advance(step);
      std::this_thread::sleep_for(20ms);
    }
  }
  bool ProgrammedIs(const std::string& status, const std::string& reason) {
    return Eventually([&] {
      return ConditionOf("web", "Programmed", "status") == status &&
             ConditionOf("web", "Programmed", "reason") == reason;
    });
  }

  std::unique_ptr<LeaseElector> elector_;
};

TEST_F(ReplicaProgressTest, APeersPendingNodesHoldProgrammedUntilTheyAcknowledge) {
  names_ = {"web"};
  Create("web", 8080);
  PutPeerReport(ObjectProgress{.generation = 1, .acknowledged = 0, .targeted = 1});
  ASSERT_NO_FATAL_FAILURE(StartLeader());
  ASSERT_TRUE(ProgrammedIs("False", "Pending")) << server_.Get(Path("web"));
  EXPECT_EQ(ConditionOf("web", "Programmed", "message"), "0/1 nodes acknowledged");
  // Replica b's node acknowledges; the leader reads it within its read
  // interval.
  PutPeerReport(ObjectProgress{.generation = 1, .acknowledged = 1, .targeted = 1});
  ASSERT_NO_FATAL_FAILURE(Pass(2s));
  writer_->OnWorld(WorldFromServer());
  EXPECT_TRUE(ProgrammedIs("True", "Programmed")) << server_.Get(Path("web"));
  EXPECT_EQ(writer_->counters(0).peer_reports, 1u);
  EXPECT_EQ(writer_->counters(0).live_peer_reports, 1u);
}

TEST_F(ReplicaProgressTest, ANewGenerationIsJudgedWithTheReportsAsTheyAreThen) {
  names_ = {"web"};
  Create("web", 8080);
  ASSERT_NO_FATAL_FAILURE(StartLeader());
  ASSERT_TRUE(ProgrammedIs("True", "Programmed")) << server_.Get(Path("web"));
  // Replica b reports generation 2 pending on its node, and the leader's
  // World has generation 2 at once: simulated time has not moved, so only
  // a read made for the new generation finds the report.
  PutPeerReport(ObjectProgress{.generation = 2, .acknowledged = 0, .targeted = 1}, "other");
  server_.Put(Path("web"), PpsJson("web", 8080, 2));
  writer_->OnWorld(WorldFromServer());
  ASSERT_TRUE(clock_.AwaitWaiters(2));
  clock_.Advance(300ms);  // past the evaluation interval, not the read interval
  EXPECT_TRUE(Eventually([&] { return ObservedGeneration("web") == 2; }));
  EXPECT_TRUE(ProgrammedIs("False", "Pending")) << server_.Get(Path("web"));
  EXPECT_EQ(ConditionOf("web", "Programmed", "message"), "0/1 nodes acknowledged");
}

TEST_F(ReplicaProgressTest, APeersRejectionIsNamedUntilThePeerStopsRenewingIt) {
  names_ = {"web"};
  Create("web", 8080);
  const std::string peer =
      PutPeerReport(ObjectProgress{.generation = 1,
                                   .acknowledged = 0,
                                   .targeted = 1,
                                   .rejection = "node edge-b rejected listener x: bad"});
  ASSERT_NO_FATAL_FAILURE(StartLeader());
  ASSERT_TRUE(ProgrammedIs("False", "Rejected")) << server_.Get(Path("web"));
  EXPECT_EQ(ConditionOf("web", "Programmed", "message"),
            "node edge-b rejected listener x: bad (on replica b_1) (0/1 nodes acknowledged)");
  // Replica b is killed: its report is never renewed. Just before
  // stale_after it still counts; then it counts for nothing, Programmed
  // turns True, and the leader removes the report.
  ASSERT_NO_FATAL_FAILURE(Pass(13s));
  EXPECT_EQ(ConditionOf("web", "Programmed", "reason"), "Rejected");
  EXPECT_TRUE(server_.Has(peer));
  ASSERT_NO_FATAL_FAILURE(Pass(4s));
  EXPECT_TRUE(ProgrammedIs("True", "Programmed")) << server_.Get(Path("web"));
  EXPECT_TRUE(Eventually([&] { return !server_.Has(peer); }));
  EXPECT_EQ(writer_->counters(0).live_peer_reports, 0u);
}

TEST_F(ReplicaProgressTest, APeerThatHasNotCaughtUpIsWaitedForWithinTheBound) {
  names_ = {"web"};
  Create("web", 8080);
  // Replica b has not seen `web` yet: its digest is of no objects.
  PutPeerReport(std::nullopt, GenerationsDigest({}, 0));
  ASSERT_NO_FATAL_FAILURE(StartLeader());
  ASSERT_TRUE(ProgrammedIs("False", "Pending")) << server_.Get(Path("web"));
  EXPECT_EQ(ConditionOf("web", "Programmed", "message"),
            "0/0 nodes acknowledged; waiting for the progress report of replica b_1");
  ASSERT_NO_FATAL_FAILURE(Pass(17s));
  EXPECT_TRUE(ProgrammedIs("True", "Programmed")) << server_.Get(Path("web"));
}

TEST_F(ReplicaProgressTest, UnreadableReportsKeepProgrammedPendingAndSaySo) {
  names_ = {"web"};
  Create("web", 8080);
  server_.SetListStatus(403);
  ASSERT_NO_FATAL_FAILURE(StartLeader());
  ASSERT_TRUE(ProgrammedIs("False", "Pending")) << server_.Get(Path("web"));
  EXPECT_THAT(ConditionOf("web", "Programmed", "message"),
              ::testing::HasSubstr("the other replicas (their reports cannot be read: HTTP 403"));
  EXPECT_THAT(writer_->counters(0).peer_read_error, ::testing::HasSubstr("HTTP 403"));
  server_.SetListStatus(0);
  ASSERT_NO_FATAL_FAILURE(Pass(2s));
  EXPECT_TRUE(ProgrammedIs("True", "Programmed")) << server_.Get(Path("web"));
}

TEST_F(ReplicaProgressTest, EachReplicaPublishesItsProgressOnlyWhenItChangesAndWithdrawsIt) {
  names_ = {"web"};
  Create("web", 8080);
  // A follower (its elector never ran) publishes too.
  LeaseElector elector(
      server_, clock_,
      {.cluster = "zone-a", .namespace_name = "default", .name = "propsy", .identity = "c_9"});
  StartWriter(&elector);
  writer_->OnWorld(WorldFromServer());
  const std::string path = std::string(kConfigMaps) + "/propsy-progress-c-9";
  ASSERT_TRUE(Eventually([&] { return server_.Has(path); }));
  rapidjson::Document report;
  report.Parse(server_.Get(path).c_str());
  EXPECT_STREQ(report["data"]["replica"].GetString(), "c_9");
  EXPECT_STREQ(report["metadata"]["labels"][kReportLabel].GetString(), "propsy");
  EXPECT_STREQ(report["data"]["objects"].GetString(), "[]");  // no node here
  EXPECT_EQ(report["data"]["generations"].GetString(), WebDigest());
  // An unchanged world writes no report again.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(clock_.AwaitWaiters(1));
    clock_.Advance(3s);
    writer_->OnWorld(WorldFromServer());
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server_.Count("PUT", kConfigMaps), 1u);
  EXPECT_EQ(writer_->counters(0).report_writes, 1u);
  // A new generation changes the report (at most every 2 s).
  server_.Put(Path("web"), PpsJson("web", 8080, 2));
  writer_->OnWorld(WorldFromServer());
  ASSERT_TRUE(clock_.AwaitWaiters(1));
  clock_.Advance(2s);
  EXPECT_TRUE(Eventually([&] { return server_.Count("PUT", kConfigMaps) == 2; }));
  // Stopping removes it.
  writer_->Stop();
  EXPECT_FALSE(server_.Has(path));
}

}  // namespace
}  // namespace propsy::status
