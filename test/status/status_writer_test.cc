// StatusWriter against an in-memory API server, fed Worlds decoded from that
// server's objects (as a Kubernetes source would), on simulated time.

#include "status/status_writer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "model/cluster_objects.h"
#include "status/fake_api_server.h"

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
            .reporting_instance = "test_1"},
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
         .stale_since_unix_ms = 0});
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
  EXPECT_EQ(Object("web")["status"]["observedGeneration"].GetInt64(), 1);
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
  // counts it instead of a new Event.
  writer_->OnWorld(WorldFromServer());
  rapidjson::Document patch;
  patch.Parse(R"({"metadata":{"generation":2},"spec":{"percent":90}})");
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
  EXPECT_EQ(Object("web")["status"]["observedGeneration"].GetInt64(), 2);
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

}  // namespace
}  // namespace propsy::status
