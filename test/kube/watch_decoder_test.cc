#include "kube/watch_decoder.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/json_fields.h"

namespace propsy::kube {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Event(const std::string& type, const std::string& name, const std::string& rv) {
  return fmt::format(
      R"({{"type":"{}","object":{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"{}","namespace":"shop","resourceVersion":"{}"}}}}}})",
      type, name, rv);
}

// One line per event: "ADDED shop/a@5", or "error: <message>".
std::string Summary(const absl::StatusOr<WatchEvent>& event) {
  if (!event.ok()) return "error: " + std::string(event.status().message());
  const rapidjson::Value& object = event->object;
  std::string name = "?";
  std::string version = "?";
  if (const rapidjson::Value* metadata = model::FindField(object, "metadata")) {
    if (const rapidjson::Value* n = model::FindField(*metadata, "name"); n && n->IsString()) {
      name = fmt::format("{}/{}", "shop", n->GetString());
    }
    if (const rapidjson::Value* rv = model::FindField(*metadata, "resourceVersion");
        rv && rv->IsString()) {
      version = rv->GetString();
    }
  }
  return fmt::format("{} {}@{}", WatchEventTypeName(event->type), name, version);
}

std::vector<std::string> FeedAll(WatchDecoder& decoder, const std::vector<std::string>& chunks,
                                 bool finish = true) {
  std::vector<std::string> out;
  auto handler = [&](absl::StatusOr<WatchEvent> event) { out.push_back(Summary(event)); };
  for (const std::string& chunk : chunks) decoder.Feed(chunk, handler);
  if (finish) decoder.Finish(handler);
  return out;
}

const std::string kStream = Event("ADDED", "a", "1") + "\n" + Event("MODIFIED", "a", "2") + "\n" +
                            R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"3"}}})" +
                            "\n" + Event("DELETED", "a", "4") + "\n";

const std::vector<std::string> kExpected = {"ADDED shop/a@1", "MODIFIED shop/a@2", "BOOKMARK ?@3",
                                            "DELETED shop/a@4"};

TEST(WatchDecoderTest, DecodesEventsOfEveryType) {
  WatchDecoder decoder;
  EXPECT_EQ(FeedAll(decoder, {kStream}), kExpected);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  EXPECT_EQ(decoder.line_number(), 5);
}

TEST(WatchDecoderTest, AnySplitIntoTwoChunksGivesTheSameEvents) {
  for (size_t split = 0; split <= kStream.size(); ++split) {
    WatchDecoder decoder;
    EXPECT_EQ(FeedAll(decoder, {kStream.substr(0, split), kStream.substr(split)}), kExpected)
        << "split at " << split;
  }
}

TEST(WatchDecoderTest, ByteByByteGivesTheSameEvents) {
  std::vector<std::string> bytes;
  for (char c : kStream) bytes.emplace_back(1, c);
  WatchDecoder decoder;
  EXPECT_EQ(FeedAll(decoder, bytes), kExpected);
}

TEST(WatchDecoderTest, EventsArriveAsSoonAsTheirLineEnds) {
  WatchDecoder decoder;
  std::vector<std::string> out;
  auto handler = [&](absl::StatusOr<WatchEvent> event) { out.push_back(Summary(event)); };
  const std::string first = Event("ADDED", "a", "1");
  decoder.Feed(first.substr(0, 10), handler);
  EXPECT_TRUE(out.empty());
  decoder.Feed(first.substr(10), handler);
  EXPECT_TRUE(out.empty()) << "no newline yet";
  EXPECT_EQ(decoder.buffered_bytes(), first.size());
  decoder.Feed("\n", handler);
  EXPECT_THAT(out, ElementsAre("ADDED shop/a@1"));
}

TEST(WatchDecoderTest, SeveralEventsPerChunkWithWhitespaceBetween) {
  WatchDecoder decoder;
  const std::string chunk = "\n  " + Event("ADDED", "a", "1") + "\r\n\n\t" +
                            Event("ADDED", "b", "2") + "  " + Event("ADDED", "c", "3") + " \n";
  EXPECT_THAT(FeedAll(decoder, {chunk}),
              ElementsAre("ADDED shop/a@1", "ADDED shop/b@2", "ADDED shop/c@3"));
}

TEST(WatchDecoderTest, MalformedLineIsOneErrorAndTheNextLineDecodes) {
  WatchDecoder decoder;
  const std::string stream = Event("ADDED", "a", "1") + "\n" + R"({"type":"ADDED","object":{)" +
                             "\n" + Event("ADDED", "b", "2") + "\n";
  std::vector<std::string> out = FeedAll(decoder, {stream});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "ADDED shop/a@1");
  EXPECT_THAT(out[1], StartsWith("error: watch stream line 2: invalid JSON"));
  EXPECT_EQ(out[2], "ADDED shop/b@2");
}

TEST(WatchDecoderTest, GarbageAfterAGoodEventOnTheSameLineKeepsTheEvent) {
  WatchDecoder decoder;
  std::vector<std::string> out =
      FeedAll(decoder, {Event("ADDED", "a", "1") + " }{ \n" + Event("ADDED", "b", "2") + "\n"});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "ADDED shop/a@1");
  EXPECT_THAT(out[1], HasSubstr("line 1: invalid JSON at column"));
  EXPECT_EQ(out[2], "ADDED shop/b@2");
}

TEST(WatchDecoderTest, JsonThatIsNoEventIsAnError) {
  WatchDecoder decoder;
  std::vector<std::string> out = FeedAll(decoder, {
                                                      "[1,2]\n",
                                                      R"({"object":{}})"
                                                      "\n",
                                                      R"({"type":"RENAMED","object":{}})"
                                                      "\n",
                                                      R"({"type":"ADDED","object":"x"})"
                                                      "\n",
                                                      R"({"type":"ADDED"})"
                                                      "\n",
                                                      "\"\\u0000\"\n",
                                                  });
  ASSERT_EQ(out.size(), 6u);
  EXPECT_THAT(out[0], HasSubstr("line 1: an event must be a JSON object, got a list"));
  EXPECT_THAT(out[1], HasSubstr("line 2: event type: missing"));
  EXPECT_THAT(out[2], HasSubstr("line 3: unknown event type \"RENAMED\""));
  EXPECT_THAT(out[3], HasSubstr("line 4: ADDED event: object: missing"));
  EXPECT_THAT(out[4], HasSubstr("line 5: ADDED event: object: missing"));
  EXPECT_THAT(out[5], HasSubstr("line 6: an event must be a JSON object"));
}

TEST(WatchDecoderTest, NulBytesAndBinaryNeverCrash) {
  WatchDecoder decoder;
  constexpr char kBinary[] = "{\"type\":\0\"ADDED\"}\n\xff\xfe\x00\x01\n";
  const std::string binary(kBinary, sizeof(kBinary) - 1);
  std::vector<std::string> out = FeedAll(decoder, {binary, Event("ADDED", "a", "1") + "\n"});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_THAT(out[0], StartsWith("error: watch stream line 1"));
  EXPECT_THAT(out[1], StartsWith("error: watch stream line 2"));
  EXPECT_EQ(out[2], "ADDED shop/a@1");
}

TEST(WatchDecoderTest, LineOverTheBoundIsOneErrorAndIsNotBuffered) {
  WatchDecoder decoder(/*max_line_bytes=*/200);
  const std::string huge =
      R"({"type":"ADDED","object":{"data":")" + std::string(5000, 'x') + "\"}}";
  std::vector<std::string> out;
  size_t most_buffered = 0;
  auto handler = [&](absl::StatusOr<WatchEvent> event) { out.push_back(Summary(event)); };
  decoder.Feed(Event("ADDED", "a", "1") + "\n", handler);
  for (size_t at = 0; at < huge.size(); at += 7) {
    decoder.Feed(huge.substr(at, 7), handler);
    most_buffered = std::max(most_buffered, decoder.buffered_bytes());
  }
  decoder.Feed("\n" + Event("ADDED", "b", "2") + "\n", handler);
  EXPECT_LE(most_buffered, 200u);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "ADDED shop/a@1");
  EXPECT_EQ(out[1], "error: watch stream line 2: longer than 200 bytes; skipped");
  EXPECT_EQ(out[2], "ADDED shop/b@2");
}

TEST(WatchDecoderTest, LineOfExactlyTheBoundIsDecoded) {
  const std::string line = Event("ADDED", "a", "1");
  WatchDecoder decoder(line.size());
  EXPECT_THAT(FeedAll(decoder, {line + "\n"}), ElementsAre("ADDED shop/a@1"));
  WatchDecoder smaller(line.size() - 1);
  EXPECT_THAT(FeedAll(smaller, {line + "\n"}), ElementsAre(HasSubstr("longer than")));
}

TEST(WatchDecoderTest, FinishDecodesALastLineWithoutNewline) {
  WatchDecoder decoder;
  EXPECT_THAT(FeedAll(decoder, {Event("ADDED", "a", "1")}, /*finish=*/false), ElementsAre());
  EXPECT_THAT(FeedAll(decoder, {}, /*finish=*/true), ElementsAre("ADDED shop/a@1"));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(WatchDecoderTest, ErrorEventCarriesAStatus) {
  WatchDecoder decoder;
  std::vector<WatchEvent> events;
  const std::string stream =
      R"json({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 5 (10)","reason":"Expired","code":410}})json"
      "\n"
      R"json({"type":"ERROR","object":{"kind":"Status","code":500,"reason":"InternalError","message":"boom"}})json"
      "\n";
  decoder.Feed(stream, [&](absl::StatusOr<WatchEvent> event) {
    ASSERT_TRUE(event.ok()) << event.status();
    events.push_back(*std::move(event));
  });
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, WatchEventType::kError);
  std::optional<ApiStatus> expired = ReadApiStatus(events[0].object);
  ASSERT_TRUE(expired.has_value());
  EXPECT_EQ(expired->code, 410);
  EXPECT_EQ(expired->reason, "Expired");
  EXPECT_EQ(expired->message, "too old resource version: 5 (10)");
  EXPECT_TRUE(expired->IsExpired());
  std::optional<ApiStatus> internal = ReadApiStatus(events[1].object);
  ASSERT_TRUE(internal.has_value());
  EXPECT_EQ(internal->code, 500);
  EXPECT_FALSE(internal->IsExpired());
}

TEST(ApiStatusTest, ExpiredByCodeOrReason) {
  EXPECT_TRUE(ParseApiStatus(R"({"code":410})")->IsExpired());
  EXPECT_TRUE(ParseApiStatus(R"({"reason":"Gone"})")->IsExpired());
  EXPECT_TRUE(ParseApiStatus(R"({"reason":"Expired","code":0})")->IsExpired());
  EXPECT_FALSE(ParseApiStatus(R"({"reason":"NotFound","code":404})")->IsExpired());
  EXPECT_FALSE(ParseApiStatus("not json").has_value());
  EXPECT_FALSE(ParseApiStatus("[]").has_value());
  // Wrong field types are ignored, not trusted.
  std::optional<ApiStatus> odd = ParseApiStatus(R"({"code":"410","reason":7})");
  ASSERT_TRUE(odd.has_value());
  EXPECT_EQ(odd->code, 0);
  EXPECT_EQ(odd->reason, "");
}

}  // namespace
}  // namespace propsy::kube
