// EventRecorder: one Event per object and reason, repeats in its series,
// also across replicas (the Event's name is derived, not remembered).

#include "status/event_recorder.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "common/clock.h"
#include "status/fake_api_server.h"

namespace propsy::status {
namespace {

constexpr char kEvents[] = "/apis/events.k8s.io/v1/namespaces/shop/events";

const EventSubject kBad{
    .key = {.namespace_name = "shop", .name = "bad"}, .uid = "uid-1", .resource_version = "7"};

int64_t SeriesCount(testing::FakeApiServer& server, const std::string& name) {
  rapidjson::Document event;
  event.Parse(server.Get(std::string(kEvents) + "/" + name).c_str());
  if (!event.IsObject()) return -1;
  return event.HasMember("series") ? event["series"]["count"].GetInt64() : 1;
}

TEST(EventRecorderTest, OneEventPerObjectAndReasonWithRepeatsInItsSeries) {
  SimulatedClock clock;
  testing::FakeApiServer server;
  EventRecorder recorder(server, clock, "replica-a_1");
  recorder.Warn(kBad, "Accepted", "Invalid", "spec.listen: bad");
  const std::string name = EventRecorder::EventName(kBad, "Invalid");
  EXPECT_TRUE(name.starts_with("bad."));
  EXPECT_EQ(SeriesCount(server, name), 1);
  rapidjson::Document event;
  event.Parse(server.Get(std::string(kEvents) + "/" + name).c_str());
  EXPECT_STREQ(event["type"].GetString(), "Warning");
  EXPECT_STREQ(event["reportingController"].GetString(), "propsy.seznam.cz/propsy");
  EXPECT_STREQ(event["reportingInstance"].GetString(), "replica-a_1");
  EXPECT_STREQ(event["regarding"]["uid"].GetString(), "uid-1");
  EXPECT_STREQ(event["note"].GetString(), "spec.listen: bad");

  recorder.Warn(kBad, "Accepted", "Invalid", "spec.listen: bad");
  recorder.Warn(kBad, "Accepted", "Invalid", "spec.listen: still bad");
  EXPECT_EQ(SeriesCount(server, name), 3);
  EXPECT_EQ(server.Count("POST", kEvents), 1u);

  // Another reason is another Event.
  recorder.Warn(kBad, "Accepted", "Conflicted", "taken by shop/older");
  EXPECT_EQ(SeriesCount(server, EventRecorder::EventName(kBad, "Conflicted")), 1);
  EXPECT_EQ(recorder.created(), 2u);
  EXPECT_EQ(recorder.bumped(), 2u);
}

TEST(EventRecorderTest, AnotherReplicasEventIsContinued) {
  SimulatedClock clock;
  testing::FakeApiServer server;
  EventRecorder first(server, clock, "replica-a_1");
  first.Warn(kBad, "Accepted", "Invalid", "spec.listen: bad");
  EventRecorder second(server, clock, "replica-b_2");  // knows nothing of it
  second.Warn(kBad, "Accepted", "Invalid", "spec.listen: bad");
  second.Warn(kBad, "Accepted", "Invalid", "spec.listen: bad");
  EXPECT_EQ(SeriesCount(server, EventRecorder::EventName(kBad, "Invalid")), 3);
  EXPECT_EQ(server.Count("POST", kEvents), 2u);  // the second one's create was answered 409
}

TEST(EventRecorderTest, AnExpiredEventIsCreatedAgain) {
  SimulatedClock clock;
  testing::FakeApiServer server;
  EventRecorder recorder(server, clock, "replica-a_1");
  recorder.Warn(kBad, "Accepted", "Invalid", "spec.listen: bad");
  const std::string name = EventRecorder::EventName(kBad, "Invalid");
  server.Delete(std::string(kEvents) + "/" + name);  // the API server's TTL
  recorder.Warn(kBad, "Accepted", "Invalid", "spec.listen: bad");
  EXPECT_EQ(SeriesCount(server, name), 1);
  EXPECT_EQ(recorder.failed(), 0u);
}

}  // namespace
}  // namespace propsy::status
