#include "common/content_hash.h"

#include <xxhash.h>

#include <cstdint>

namespace propsy {
namespace {

std::string ToHex(XXH128_hash_t hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(32, '0');
  const uint64_t halves[2] = {hash.high64, hash.low64};
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 16; ++i) {
      out[h * 16 + i] = kDigits[(halves[h] >> (60 - 4 * i)) & 0xf];
    }
  }
  return out;
}

}  // namespace

std::string ContentHash(std::string_view bytes) {
  return ToHex(XXH3_128bits(bytes.data(), bytes.size()));
}

void ContentHasher::StateDeleter::operator()(void* state) const {
  XXH3_freeState(static_cast<XXH3_state_t*>(state));
}

ContentHasher::ContentHasher() : state_(XXH3_createState()) {
  XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_.get()));
}

ContentHasher::~ContentHasher() = default;

void ContentHasher::Add(std::string_view piece) {
  const uint64_t size = piece.size();
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_.get()), &size, sizeof(size));
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_.get()), piece.data(), piece.size());
}

std::string ContentHasher::Finish() {
  return ToHex(XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_.get())));
}

}  // namespace propsy
