// libFuzzer target for the watch-stream decoder. The first two input bytes
// choose the line bound and the chunking; the rest is the stream. The stream
// is decoded whole and in chunks, and both must give the same events and
// errors: chunk boundaries never change what is decoded.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "kube/watch_decoder.h"

using propsy::kube::ReadApiStatus;
using propsy::kube::WatchDecoder;
using propsy::kube::WatchEvent;
using propsy::kube::WatchEventType;
using propsy::kube::WatchEventTypeName;

namespace {

// What one handler call said, for comparing two decodings.
std::string Summary(const absl::StatusOr<WatchEvent>& event) {
  if (!event.ok()) {
    const absl::StatusCode code = event.status().code();
    PROPSY_FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
                      code == absl::StatusCode::kResourceExhausted);
    PROPSY_FUZZ_CHECK(event.status().message().substr(0, 18) == "watch stream line ");
    return "error " + std::string(event.status().message());
  }
  PROPSY_FUZZ_CHECK(event->object.IsObject());
  if (event->type == WatchEventType::kError) {
    PROPSY_FUZZ_CHECK(ReadApiStatus(event->object).has_value());
  }
  return std::string(WatchEventTypeName(event->type)) + " " +
         std::to_string(event->object.MemberCount());
}

std::vector<std::string> Decode(std::string_view stream, size_t max_line,
                                const std::vector<size_t>& cuts) {
  WatchDecoder decoder(max_line);
  std::vector<std::string> out;
  auto handler = [&](absl::StatusOr<WatchEvent> event) { out.push_back(Summary(event)); };
  size_t at = 0;
  for (size_t cut : cuts) {
    decoder.Feed(stream.substr(at, cut - at), handler);
    PROPSY_FUZZ_CHECK(decoder.buffered_bytes() <= max_line);
    at = cut;
  }
  decoder.Feed(stream.substr(at), handler);
  PROPSY_FUZZ_CHECK(decoder.buffered_bytes() <= max_line);
  decoder.Finish(handler);
  PROPSY_FUZZ_CHECK(decoder.buffered_bytes() == 0);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // A small bound sometimes, so oversized lines are exercised too.
  const size_t max_line =
      data[0] < 32 ? size_t{1} + data[0] * 8 : WatchDecoder::kDefaultMaxLineBytes;
  uint32_t state = data[1] + 1u;
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

  // Chunk boundaries from a small xorshift generator seeded by the input.
  std::vector<size_t> cuts;
  size_t at = 0;
  while (true) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    at += state % 17;  // 0: an empty chunk
    if (at >= stream.size()) break;
    cuts.push_back(at);
  }

  const std::vector<std::string> whole = Decode(stream, max_line, {});
  const std::vector<std::string> chunked = Decode(stream, max_line, cuts);
  PROPSY_FUZZ_CHECK(whole == chunked);
  return 0;
}
