#include "kube/reflector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kube/fake_transport.h"
#include "kube/reflector_test_util.h"
#include "support/wait.h"

namespace propsy::kube {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using testing::BookmarkLine;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FakeReply;
using testing::FakeTime;
using testing::FakeTransport;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::kSlicesPath;
using ::testing::Le;
using testing::ListBody;
using ::testing::Not;
using testing::ParsedPath;
using testing::RecordingSink;
using testing::Reply;
using testing::Slice;
using testing::StatusBody;
using ::testing::UnorderedElementsAre;
using testing::WatchLine;

constexpr milliseconds kTimeout{5000};

FakeReply Chunks(std::vector<std::string> chunks, bool hold_open = false) {
  return FakeReply{.error = {},
                   .status = 200,
                   .headers = {},
                   .chunks = std::move(chunks),
                   .hold_open = hold_open};
}

FakeReply WithRetryAfter(int status, std::string seconds) {
  FakeReply reply = Reply(status, StatusBody(status, "TooManyRequests"));
  reply.headers["retry-after"] = std::move(seconds);
  return reply;
}

class ReflectorTest : public ::testing::Test {
 protected:
  ReflectorTest() : transport_(std::make_shared<FakeTransport>()) {
    options_.collection_path = kSlicesPath;
    options_.kind = model::ObjectKind::kEndpointSlice;
  }

  Reflector& Start() {
    reflector_ = std::make_unique<Reflector>(transport_, options_, sink_, time_, time_.Hooks());
    reflector_->Start();
    return *reflector_;
  }

  // Waits until the reflector sits in a held-open watch (the script's end).
  void WaitForQuietWatch() { ASSERT_TRUE(transport_->WaitForHolding(1, kTimeout)); }

  // The request kinds in order: "LIST" / "LIST continue=TOKEN" / "LIST full"
  // / "WATCH rv=N".
  std::vector<std::string> Sequence() const {
    std::vector<std::string> out;
    for (const ParsedPath& request : transport_->parsed_requests()) {
      if (request.watch()) {
        out.push_back("WATCH rv=" + request.Param("resourceVersion"));
      } else if (!request.Has("limit")) {
        out.push_back("LIST full");
      } else if (request.Has("continue")) {
        out.push_back("LIST continue=" + request.Param("continue"));
      } else {
        out.push_back("LIST");
      }
    }
    return out;
  }

  std::shared_ptr<FakeTransport> transport_;
  ReflectorOptions options_;
  RecordingSink sink_;
  FakeTime time_;
  SimulatedClock simulated_;  // for tests where time must stand still
  std::unique_ptr<Reflector> reflector_;
};

TEST_F(ReflectorTest, ListsPagesThenWatchesFromTheListVersion) {
  transport_->PushList(
      kSlicesPath,
      Reply(200, ListBody("19", "tok/1+=", {Slice("a", "10.0.0.1"), Slice("b", "10.0.0.2")})));
  transport_->PushList(kSlicesPath, Reply(200, ListBody("20", "", {Slice("c", "10.0.0.3")})));
  Reflector& reflector = Start();
  WaitForQuietWatch();

  EXPECT_THAT(Sequence(), ElementsAre("LIST", "LIST continue=tok/1+=", "WATCH rv=20"));
  const std::vector<ParsedPath> requests = transport_->parsed_requests();
  EXPECT_EQ(requests[0].path, kSlicesPath);
  EXPECT_EQ(requests[0].Param("limit"), "500");
  EXPECT_EQ(requests[1].Param("limit"), "500");
  EXPECT_EQ(requests[2].Param("allowWatchBookmarks"), "true");
  EXPECT_EQ(requests[2].Param("timeoutSeconds"), "600");  // FakeTime picks the top
  // The continue token travels percent-encoded.
  EXPECT_THAT(transport_->requests()[1].path, HasSubstr("continue=tok%2F1%2B%3D"));

  EXPECT_THAT(sink_.Slices(), UnorderedElementsAre("a=10.0.0.1", "b=10.0.0.2", "c=10.0.0.3"));
  // One batch for the whole list, after the last page.
  EXPECT_THAT(sink_.log(), ElementsAre("upsert shop/a", "upsert shop/b", "upsert shop/c"));
  EXPECT_TRUE(reflector.HasSynced());
  const ReflectorStats stats = reflector.Stats();
  EXPECT_EQ(stats.lists, 1);
  EXPECT_EQ(stats.relists, 0);
  EXPECT_EQ(stats.watches_started, 1);
  EXPECT_EQ(stats.resource_version, "20");
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(stats.decode_errors, 0);
}

TEST_F(ReflectorTest, NotSyncedBeforeTheListCompletes) {
  transport_->PushList(kSlicesPath, Reply(200, ListBody("5", "more", {Slice("a", "10.0.0.1")})));
  // The second page never comes (held open).
  transport_->PushList(kSlicesPath, Chunks({}, /*hold_open=*/true));
  Reflector& reflector = Start();
  WaitForQuietWatch();
  EXPECT_FALSE(reflector.HasSynced());
  EXPECT_THAT(sink_.log(), IsEmpty()) << "no partial list reaches the sink";
  EXPECT_FALSE(reflector.Stats().connected);
}

TEST_F(ReflectorTest, ExpiredContinueTokenFallsBackToOneFullList) {
  transport_->PushList(kSlicesPath, Reply(200, ListBody("7", "t1", {Slice("a", "10.0.0.1")})));
  transport_->PushList(kSlicesPath, Reply(410, StatusBody(410, "Expired")));
  transport_->PushList(
      kSlicesPath,
      Reply(200, ListBody("30", "", {Slice("a", "10.0.0.1"), Slice("b", "10.0.0.2")})));
  Start();
  WaitForQuietWatch();
  EXPECT_THAT(Sequence(), ElementsAre("LIST", "LIST continue=t1", "LIST full", "WATCH rv=30"));
  EXPECT_THAT(sink_.log(), ElementsAre("upsert shop/a", "upsert shop/b"));
  EXPECT_THAT(time_.sleeps(), IsEmpty());
}

TEST_F(ReflectorTest, WatchEventsAreApplied) {
  transport_->PushList(kSlicesPath, Reply(200, ListBody("10", "", {Slice("a", "10.0.0.1")})));
  transport_->PushWatch(
      kSlicesPath, Chunks({WatchLine("ADDED", Slice("b", "10.0.0.2", "11")) +
                               WatchLine("MODIFIED", Slice("a", "10.0.0.9", "12")).substr(0, 30),
                           WatchLine("MODIFIED", Slice("a", "10.0.0.9", "12")).substr(30) +
                               WatchLine("DELETED", Slice("b", "10.0.0.2", "13")),
                           WatchLine("ADDED", Slice("c", "10.0.0.3", "14"))},
                          /*hold_open=*/true));
  Reflector& reflector = Start();
  WaitForQuietWatch();
  EXPECT_THAT(sink_.log(), ElementsAre("upsert shop/a", "upsert shop/b", "upsert shop/a",
                                       "delete shop/b", "upsert shop/c"));
  EXPECT_THAT(sink_.Slices(), UnorderedElementsAre("a=10.0.0.9", "c=10.0.0.3"));
  EXPECT_EQ(reflector.Stats().resource_version, "14");
}

TEST_F(ReflectorTest, BookmarkUpdatesTheVersionOnly) {
  transport_->PushList(kSlicesPath, Reply(200, ListBody("10", "", {Slice("a", "10.0.0.1")})));
  transport_->PushWatch(kSlicesPath, Chunks({BookmarkLine("50")}));
  Reflector& reflector = Start();
  WaitForQuietWatch();
  EXPECT_THAT(Sequence(), ElementsAre("LIST", "WATCH rv=10", "WATCH rv=50"));
  EXPECT_THAT(sink_.log(), ElementsAre("upsert shop/a"));
  EXPECT_EQ(reflector.Stats().resource_version, "50");
}

TEST_F(ReflectorTest, CleanCloseWatchesAgainFromTheLastVersionWithoutRelisting) {
  transport_->PushList(kSlicesPath, Reply(200, ListBody("10", "", {Slice("a", "10.0.0.1")})));
  transport_->PushWatch(kSlicesPath, Chunks({WatchLine("ADDED", Slice("b", "10.0.0.2", "11"))}));
  transport_->PushWatch(kSlicesPath, Chunks({WatchLine("MODIFIED", Slice("b", "10.0.0.3", "12"))}));
  Reflector& reflector = Start();
  WaitForQuietWatch();
  EXPECT_THAT(Sequence(), ElementsAre("LIST", "WATCH rv=10", "WATCH rv=11", "WATCH rv=12"));
  const ReflectorStats stats = reflector.Stats();
  EXPECT_EQ(stats.lists, 1);
  EXPECT_EQ(stats.relists, 0);
  EXPECT_EQ(stats.watches_started, 3);
  EXPECT_EQ(stats.watch_restarts, 2);
  EXPECT_THAT(time_.sleeps(), IsEmpty()) << "a clean close is no failure";
  EXPECT_THAT(sink_.Slices(), UnorderedElementsAre("a=10.0.0.1", "b=10.0.0.3"));
}

TEST_F(ReflectorTest, WatchClosedAtOnceWithoutEventsBacksOffBeforeWatchingAgain) {
  options_.min_clean_watch = std::chrono::seconds(10);  // FakeTime: 1 s per reading
  transport_->PushList(kSlicesPath, Reply(200, ListBody("10", "", {})));
  transport_->PushWatch(kSlicesPath, Chunks({}));
  Start();
  WaitForQuietWatch();
  EXPECT_THAT(Sequence(), ElementsAre("LIST", "WATCH rv=10", "WATCH rv=10"));
  EXPECT_THAT(time_.sleeps(), ElementsAre(milliseconds(800)));
}

TEST_F(ReflectorTest, GoneEventRelistsAndDeletesOnlyObjectsReallyGone) {
  transport_->PushList(kSlicesPath,
                       Reply(200, ListBody("10", "",
                                           {Slice("a", "10.0.0.1"), Slice("b", "10.0.0.2"),
                                            Slice("c", "10.0.0.3")})));
  transport_->PushWatch(kSlicesPath, Chunks({WatchLine("ADDED", Slice("d", "10.0.0.4", "11")),
                                             WatchLine("ERROR", StatusBody(410, "Expired")),
                                             WatchLine("ADDED", Slice("x", "10.0.0.99", "12"))}));
  transport_->PushList(kSlicesPath,
                       Reply(200, ListBody("40", "",
                                           {Slice("a", "10.0.0.1"), Slice("c", "10.0.0.7"),
                                            Slice("d", "10.0.0.4"), Slice("e", "10.0.0.5")})));
  Reflector& reflector = Start();
  WaitForQuietWatch();

  EXPECT_THAT(Sequence(), ElementsAre("LIST", "WATCH rv=10", "LIST", "WATCH rv=40"));
  const std::vector<std::string> log = sink_.log();
  EXPECT_THAT(log, Contains("delete shop/b"));
  for (const char* kept : {"a", "c", "d", "e"}) {
    EXPECT_THAT(log, Not(Contains("delete shop/" + std::string(kept))));
  }
  EXPECT_THAT(log, Not(Contains("upsert shop/x"))) << "events after ERROR are not applied";
  EXPECT_THAT(sink_.Slices(),
              UnorderedElementsAre("a=10.0.0.1", "c=10.0.0.7", "d=10.0.0.4", "e=10.0.0.5"));
  const ReflectorStats stats = reflector.Stats();
  EXPECT_EQ(stats.lists, 2);
  EXPECT_EQ(stats.relists, 1);
  EXPECT_THAT(time_.sleeps(), IsEmpty()) << "events came between list and expiry";
}

TEST_F(ReflectorTest, GoneHttpAnswerToTheWatchRelists) {
  transport_->PushList(kSlicesPath, Reply(200, ListBody("10", "", {Slice("a", "10.0.0.1")})));
  transport_->PushWatch(kSlicesPath, Chunks({BookmarkLine("15")}));
  transport_->PushWatch(kSlicesPath, Reply(410, StatusBody(410, "Gone")));
  transport_->PushList(kSlicesPath, Reply(200, ListBody("50", "", {})));
  Reflector& reflector = Start();
  WaitForQuietWatch();
  EXPECT_THAT(Sequence(), ElementsAre("LIST", "WATCH rv=10", "WATCH rv=15", "LIST", "WATCH rv=50"));
  EXPECT_THAT(sink_.log(), ElementsAre("upsert shop/a", "delete shop/a"));
  EXPECT_EQ(reflector.Stats().relists, 1);
  EXPECT_TRUE(reflector.Stats().connected) << "410 is no outage";
}

TEST_F(ReflectorTest, RetryAfterIsHonouredAndCapped) {
  transport_->PushList(kSlicesPath, Reply(200, ListBody("10", "", {})));
  transport_->PushWatch(kSlicesPath, WithRetryAfter(429, "3"));
  transport_->PushWatch(kSlicesPath, WithRetryAfter(503, "120"));
  transport_->PushWatch(kSlicesPath, Reply(500, StatusBody(500, "InternalError")));
  transport_->PushWatch(kSlicesPath, WithRetryAfter(500, "Wed, 21 Oct 2015 07:28:00 GMT"));
  Reflector& reflector = Start();
  WaitForQuietWatch();
  // Every retry resumes from the same version: no relist.
  EXPECT_THAT(Sequence(), ElementsAre("LIST", "WATCH rv=10", "WATCH rv=10", "WATCH rv=10",
                                      "WATCH rv=10", "WATCH rv=10"));
  // 3 s as asked; 120 s capped at 30 s; then full-jitter backoff (FakeTime
  // picks the top of [0, current]); current doubled at every pause; an HTTP
  // date is not honoured.
  EXPECT_THAT(time_.sleeps(), ElementsAre(milliseconds(3000), milliseconds(30000),
                                          milliseconds(3200), milliseconds(6400)));
  const ReflectorStats stats = reflector.Stats();
  EXPECT_THAT(stats.last_error, HasSubstr("HTTP 500"));
  EXPECT_EQ(stats.lists, 1);
}

// An API server that does not answer at all is retried at least every 2 s
// (max_unreachable_backoff), whatever the doubling backoff has reached, so
// ProPsy notices its return within seconds; servers that answer 5xx back off
// fully (above).
TEST_F(ReflectorTest, TransportErrorsBackOffWithJitterButRetryAtLeastEveryTwoSeconds) {
  std::mt19937 rng(42);
  time_.set_pick([&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  });
  transport_->PushList(kSlicesPath, Reply(200, ListBody("10", "", {})));
  for (int i = 0; i < 8; ++i) {
    transport_->PushWatch(kSlicesPath, testing::Failure(absl::UnavailableError("refused")));
  }
  // A watch that works resets the backoff; the next failure starts over.
  transport_->PushWatch(kSlicesPath, Chunks({BookmarkLine("11")}));
  transport_->PushWatch(kSlicesPath, testing::Failure(absl::UnavailableError("refused")));
  Reflector& reflector = Start();
  WaitForQuietWatch();

  const std::vector<milliseconds> sleeps = time_.sleeps();
  ASSERT_EQ(sleeps.size(), 9u);
  // The backoff ranges the jitter drew from (the first draw is the watch
  // timeout): [0, 800], [0, 1600], ... capped at [0, 30000].
  std::vector<int64_t> caps;
  for (const auto& [lo, hi] : time_.ranges()) {
    if (lo == 0) caps.push_back(hi);
  }
  EXPECT_THAT(caps, ElementsAre(800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 800));
  for (size_t i = 0; i < sleeps.size(); ++i) {
    EXPECT_THAT(sleeps[i].count(), AllOf(Ge(0), Le(std::min<int64_t>(caps[i], 2000))))
        << "sleep " << i;
  }
  // Some jitter actually happened.
  int below_cap = 0;
  for (size_t i = 0; i < sleeps.size(); ++i) {
    below_cap += sleeps[i].count() < std::min<int64_t>(caps[i], 2000) ? 1 : 0;
  }
  EXPECT_GT(below_cap, 0);
  EXPECT_EQ(reflector.Stats().lists, 1);
  EXPECT_THAT(reflector.Stats().last_error, HasSubstr("refused"));
}

TEST_F(ReflectorTest, FailedListIsRetriedAfterBackoffAndSyncsLater) {
  transport_->PushList(kSlicesPath, testing::Failure(absl::UnavailableError("connect refused")));
  transport_->PushList(kSlicesPath, Reply(403, StatusBody(403, "Forbidden")));
  transport_->PushList(kSlicesPath, Reply(200, "{not json"));
  transport_->PushList(kSlicesPath, Reply(200, ListBody("3", "", {Slice("a", "10.0.0.1")})));
  Reflector& reflector = Start();
  WaitForQuietWatch();
  EXPECT_THAT(Sequence(), ElementsAre("LIST", "LIST", "LIST", "LIST", "WATCH rv=3"));
  EXPECT_THAT(time_.sleeps(),
              ElementsAre(milliseconds(800), milliseconds(1600), milliseconds(3200)));
  EXPECT_TRUE(reflector.HasSynced());
  EXPECT_EQ(reflector.Stats().lists, 1);
  EXPECT_THAT(reflector.Stats().last_error, HasSubstr("not JSON"));
}

TEST_F(ReflectorTest, MalformedObjectsAreSkippedAndCountedWhileOthersApply) {
  transport_->PushList(kSlicesPath,
                       Reply(200, ListBody("10", "",
                                           {Slice("a", "10.0.0.1"), "42", R"({"metadata":{}})",
                                            Slice("b", "not-an-ip")})));
  transport_->PushWatch(kSlicesPath, Chunks({"{\"type\":\"ADDED\",\"object\":{\"metadata\":\n",
                                             WatchLine("ADDED", Slice("c", "10.0.0.3", "11")),
                                             WatchLine("MODIFIED", Slice("a", "bad ip", "12")),
                                             WatchLine("ADDED", Slice("d", "10.0.0.4", "13"))},
                                            /*hold_open=*/true));
  Reflector& reflector = Start();
  WaitForQuietWatch();

  // Good objects apply; a's bad update keeps its last good version.
  EXPECT_THAT(sink_.Slices(), UnorderedElementsAre("a=10.0.0.1", "c=10.0.0.3", "d=10.0.0.4"));
  const ReflectorStats stats = reflector.Stats();
  // 42, the unnamed item, b, the broken line, a's update.
  EXPECT_EQ(stats.decode_errors, 5);
  EXPECT_EQ(stats.resource_version, "13");
  ASSERT_EQ(stats.recent_decode_errors.size(), 3u);
  EXPECT_THAT(stats.recent_decode_errors[0], HasSubstr("list item 1: skipped: not a JSON object"));
  EXPECT_THAT(stats.recent_decode_errors[1], HasSubstr("list item 2: skipped: metadata.name"));
  EXPECT_THAT(stats.recent_decode_errors[2], HasSubstr("watch stream line 1: invalid JSON"));
  EXPECT_THAT(stats.last_error, AllOf(HasSubstr("EndpointSlice shop/a"), HasSubstr("bad ip")));
  EXPECT_TRUE(stats.connected);
}

TEST_F(ReflectorTest, SelectorsGoOnListAndWatch) {
  options_.collection_path = "/api/v1/namespaces/shop/secrets";
  options_.kind = model::ObjectKind::kSecret;
  options_.field_selector = "type=kubernetes.io/tls";
  options_.label_selector = "team in (a,b)";
  transport_->PushList(options_.collection_path, Reply(200, ListBody("1", "", {})));
  Start();
  WaitForQuietWatch();
  const std::vector<ParsedPath> requests = transport_->parsed_requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const ParsedPath& request : requests) {
    EXPECT_EQ(request.path, "/api/v1/namespaces/shop/secrets");
    EXPECT_EQ(request.Param("fieldSelector"), "type=kubernetes.io/tls");
    EXPECT_EQ(request.Param("labelSelector"), "team in (a,b)");
  }
  EXPECT_THAT(transport_->requests()[0].path,
              HasSubstr("fieldSelector=type%3Dkubernetes.io%2Ftls"));
}

TEST_F(ReflectorTest, WatchTimeoutIsRandomWithinFiveToTenMinutes) {
  transport_->PushList(kSlicesPath, Reply(200, ListBody("1", "", {})));
  for (int i = 0; i < 20; ++i) transport_->PushWatch(kSlicesPath, Chunks({BookmarkLine("2")}));
  reflector_ = std::make_unique<Reflector>(transport_, options_, sink_, time_,
                                           ReflectorHooks{.random = nullptr});  // real randomness
  reflector_->Start();
  WaitForQuietWatch();
  std::set<std::string> seen;
  for (const HttpRequest& request : transport_->requests()) {
    const ParsedPath parsed = testing::ParsePath(request.path);
    if (!parsed.watch()) continue;
    const int seconds = std::stoi(parsed.Param("timeoutSeconds"));
    EXPECT_THAT(seconds, AllOf(Ge(300), Le(600)));
    EXPECT_GT(request.timeout, std::chrono::seconds(seconds)) << "the client bound is later";
    seen.insert(parsed.Param("timeoutSeconds"));
  }
  EXPECT_GT(seen.size(), 1u) << "21 watches with the same timeout";
}

TEST_F(ReflectorTest, StopReturnsPromptlyWhileAWatchIsBlocked) {
  transport_->PushList(kSlicesPath, Reply(200, ListBody("1", "", {})));
  reflector_ = std::make_unique<Reflector>(transport_, options_, sink_, simulated_);
  reflector_->Start();
  WaitForQuietWatch();
  const auto before = std::chrono::steady_clock::now();
  reflector_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(1));
  EXPECT_EQ(transport_->holding(), 0);
  reflector_->Stop();  // idempotent
}

TEST_F(ReflectorTest, StopCutsALongBackoffShort) {
  options_.initial_backoff = std::chrono::minutes(10);
  options_.max_backoff = std::chrono::minutes(10);
  transport_->PushList(kSlicesPath, testing::Failure(absl::UnavailableError("down")));
  // Time stands still: the backoff would never end by itself.
  reflector_ =
      std::make_unique<Reflector>(transport_, options_, sink_, simulated_,
                                  ReflectorHooks{.random = [](int64_t, int64_t hi) { return hi; }});
  reflector_->Start();
  ASSERT_TRUE(transport_->WaitForRequests(1, kTimeout));
  ASSERT_TRUE(simulated_.AwaitWaiters(1)) << "the reflector waits out its backoff";
  const auto before = std::chrono::steady_clock::now();
  reflector_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(1));
  EXPECT_EQ(transport_->request_count(), 1u);
}

}  // namespace
}  // namespace propsy::kube
