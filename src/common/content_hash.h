#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace propsy {

// A 128-bit content hash (XXH3) rendered as 32 hex characters. Used for xDS
// versions: equal content always gives an equal version, across processes
// and restarts, so a reconnecting Envoy is not sent what it already has.
std::string ContentHash(std::string_view bytes);

// Accumulates several strings into one content hash. Each piece is
// length-prefixed, so ("ab","c") and ("a","bc") differ.
class ContentHasher {
 public:
  ContentHasher();
  ~ContentHasher();
  ContentHasher(const ContentHasher&) = delete;
  ContentHasher& operator=(const ContentHasher&) = delete;

  void Add(std::string_view piece);
  std::string Finish();

 private:
  struct StateDeleter {
    void operator()(void* state) const;
  };
  std::unique_ptr<void, StateDeleter> state_;
};

}  // namespace propsy
