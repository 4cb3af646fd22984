#pragma once

#include <filesystem>
#include <string>

namespace propsy::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction unless PROPSY_KEEP_TEST_DIRS is set (to read logs afterwards).
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "propsy-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / name, as a string.
  std::string File(std::string_view name) const;

 private:
  std::filesystem::path path_;
};

}  // namespace propsy::test
