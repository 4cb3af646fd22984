#pragma once

// Helpers for the Kubernetes client tests: a temporary directory that is
// removed again, and files and scripts written into it.

#include <string>

namespace propsy::kube::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Absolute path of `name` inside the directory.
  std::string Path(const std::string& name) const;
  // Writes `contents` to `name` (atomically: temporary file + rename) and
  // returns its path.
  std::string Write(const std::string& name, const std::string& contents) const;
  // Writes an executable /bin/sh script and returns its path.
  std::string WriteScript(const std::string& name, const std::string& body) const;
  // The contents of `name` ("" when it does not exist).
  std::string Read(const std::string& name) const;

 private:
  std::string path_;
};

}  // namespace propsy::kube::testing
