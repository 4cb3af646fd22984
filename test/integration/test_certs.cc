#include "integration/test_certs.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace propsy::xds::testing {
namespace {

constexpr char kKeyOptions[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

bool WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << contents;
  return static_cast<bool>(file);
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

bool ReplaceFile(const std::string& path, const std::string& contents) {
  const std::string temporary = path + ".new";
  if (!WriteFile(temporary, contents)) return false;
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  return !error;
}

absl::StatusOr<TestCerts> TestCerts::Create() {
  std::string pattern = (std::filesystem::temp_directory_path() / "propsy-certs-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(fmt::format("mkdtemp {} failed", pattern));
  }
  TestCerts certs(pattern);
  for (const char* ca : {"ca", "other-ca"}) {
    if (absl::Status status = certs.MakeCa(ca); !status.ok()) return status;
  }
  return certs;
}

TestCerts::TestCerts(TestCerts&& other) noexcept
    : dir_(std::exchange(other.dir_, "")), next_serial_(other.next_serial_) {}

TestCerts::~TestCerts() {
  if (dir_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string TestCerts::Path(const std::string& file_name) const {
  return (std::filesystem::path(dir_) / file_name).string();
}

std::string TestCerts::CaCert(const std::string& ca) const { return Path(ca + ".crt"); }

absl::Status TestCerts::Run(const std::string& command) const {
  const std::string log = Path("openssl.log");
  int rc = std::system(fmt::format("{} >'{}' 2>&1", command, log).c_str());
  if (rc != 0) {
    return absl::InternalError(fmt::format("`{}` failed ({}): {}", command, rc, ReadFile(log)));
  }
  return absl::OkStatus();
}

absl::Status TestCerts::MakeCa(const std::string& name) {
  const std::string config = Path(name + ".cnf");
  if (!WriteFile(config, fmt::format("[req]\n"
                                     "distinguished_name = dn\n"
                                     "prompt = no\n"
                                     "[dn]\n"
                                     "CN = propsy test {}\n"
                                     "[v3_ca]\n"
                                     "basicConstraints = critical,CA:TRUE\n"
                                     "keyUsage = critical,keyCertSign,cRLSign\n"
                                     "subjectKeyIdentifier = hash\n",
                                     name))) {
    return absl::InternalError("cannot write " + config);
  }
  return Run(fmt::format(
      "openssl req -x509 -config '{}' -extensions v3_ca {} -keyout '{}' -out '{}' -days 2", config,
      kKeyOptions, Path(name + ".key"), Path(name + ".crt")));
}

absl::StatusOr<CertFiles> TestCerts::Issue(const std::string& file_name,
                                           const std::string& common_name,
                                           const std::vector<std::string>& sans,
                                           const std::string& ca) {
  CertFiles files{.cert = Path(file_name + ".crt"), .key = Path(file_name + ".key")};
  const std::string csr = Path(file_name + ".csr");
  const std::string extensions = Path(file_name + ".ext");
  std::string ext =
      "basicConstraints = CA:FALSE\n"
      "keyUsage = critical,digitalSignature,keyEncipherment\n"
      "extendedKeyUsage = serverAuth,clientAuth\n";
  if (!sans.empty()) {
    std::string list;
    for (const std::string& san : sans) list += (list.empty() ? "" : ",") + san;
    ext += "subjectAltName = " + list + "\n";
  }
  if (!WriteFile(extensions, ext)) return absl::InternalError("cannot write " + extensions);
  if (absl::Status status =
          Run(fmt::format("openssl req -new {} -subj '/CN={}' -keyout '{}' -out '{}'", kKeyOptions,
                          common_name, files.key, csr));
      !status.ok()) {
    return status;
  }
  if (absl::Status status = Run(fmt::format(
          "openssl x509 -req -in '{}' -CA '{}' -CAkey '{}' -set_serial {} -days 2 -extfile '{}' "
          "-out '{}'",
          csr, CaCert(ca), Path(ca + ".key"), next_serial_++, extensions, files.cert));
      !status.ok()) {
    return status;
  }
  return files;
}

}  // namespace propsy::xds::testing
