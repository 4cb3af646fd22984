#include "support/temp_dir.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace propsy::test {

TempDir::TempDir(std::string_view prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      fmt::format("{}/{}-XXXXXX", base != nullptr && *base != '\0' ? base : "/tmp", prefix);
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    throw std::runtime_error(fmt::format("mkdtemp({}) failed", pattern));
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  if (std::getenv("PROPSY_KEEP_TEST_DIRS") != nullptr) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::File(std::string_view name) const { return (path_ / name).string(); }

}  // namespace propsy::test
