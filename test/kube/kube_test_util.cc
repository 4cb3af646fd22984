#include "kube/kube_test_util.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace propsy::kube::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "propsy-kube-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::Path(const std::string& name) const {
  return (std::filesystem::path(path_) / name).string();
}

std::string TempDir::Write(const std::string& name, const std::string& contents) const {
  const std::string path = Path(name);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << contents;
  }
  std::filesystem::rename(temporary, path);
  return path;
}

std::string TempDir::WriteScript(const std::string& name, const std::string& body) const {
  const std::string path = Write(name, "#!/bin/sh\n" + body);
  ::chmod(path.c_str(), 0755);
  return path;
}

std::string TempDir::Read(const std::string& name) const {
  std::ifstream file(Path(name), std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

}  // namespace propsy::kube::testing
