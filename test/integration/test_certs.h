#pragma once

// Certificates for TLS tests, generated with the openssl command line into a
// temporary directory that is removed again.

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace propsy::xds::testing {

struct CertFiles {
  std::string cert;  // path of the PEM certificate
  std::string key;   // path of the PEM private key
};

class TestCerts {
 public:
  // Creates the directory and two certificate authorities ("ca" and
  // "other-ca").
  static absl::StatusOr<TestCerts> Create();

  TestCerts(TestCerts&& other) noexcept;
  TestCerts& operator=(TestCerts&&) = delete;
  TestCerts(const TestCerts&) = delete;
  ~TestCerts();

  // A leaf certificate signed by `ca` ("ca" or "other-ca") with subject CN
  // `common_name` and the given subjectAltName entries ("DNS:x", "IP:y").
  absl::StatusOr<CertFiles> Issue(const std::string& file_name, const std::string& common_name,
                                  const std::vector<std::string>& sans,
                                  const std::string& ca = "ca");

  const std::string& dir() const { return dir_; }
  std::string CaCert(const std::string& ca = "ca") const;
  std::string Path(const std::string& file_name) const;

 private:
  explicit TestCerts(std::string dir) : dir_(std::move(dir)) {}
  absl::Status MakeCa(const std::string& name);
  absl::Status Run(const std::string& command) const;

  std::string dir_;
  int next_serial_ = 1000;
};

// The contents of a file ("" if it cannot be read).
std::string ReadFile(const std::string& path);
// Writes `contents` to `path` atomically (temporary file + rename).
bool ReplaceFile(const std::string& path, const std::string& contents);

}  // namespace propsy::xds::testing
