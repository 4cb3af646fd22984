#pragma once

// Invariant checks for fuzz targets: a violated one aborts, which libFuzzer
// (and the corpus replay) reports as a crash together with the input.

#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define PROPSY_FUZZ_CHECK(condition)                                                     \
  do {                                                                                   \
    if (!(condition)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)

namespace propsy::fuzz {

// Parses fuzz input as JSON into `document`; false when it is not JSON.
// Iterative parsing: deeply nested input must not exhaust the stack.
inline bool ParseJson(const uint8_t* data, size_t size, rapidjson::Document* document) {
  document->Parse<rapidjson::kParseIterativeFlag>(reinterpret_cast<const char*>(data), size);
  return !document->HasParseError();
}

}  // namespace propsy::fuzz
