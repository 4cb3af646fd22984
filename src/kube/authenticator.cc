#include "kube/authenticator.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"

namespace propsy::kube {
namespace {

// Tokens are written with a trailing newline more often than not.
std::string TrimWhitespace(std::string text) {
  const size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "";
  text.erase(end + 1);
  text.erase(0, text.find_first_not_of(" \t\r\n"));
  return text;
}

Credential BearerCredential(const std::string& token) {
  return Credential{
      .authorization = "Bearer " + token, .client_certificate_pem = {}, .client_key_pem = {}};
}

// Closes a descriptor on scope exit.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    const std::string message = fmt::format("cannot read {}: {}", path, std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES) return absl::PermissionDeniedError(message);
    return absl::UnavailableError(message);
  }
  FdCloser closer(fd);
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(fmt::format("cannot read {}: not a regular file", path));
  }
  std::string contents;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      return absl::UnavailableError(fmt::format("cannot read {}: {}", path, std::strerror(error)));
    }
    if (n == 0) break;
    if (contents.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::InvalidArgumentError(
          fmt::format("cannot read {}: larger than {} bytes", path, max_bytes));
    }
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

StaticToken::StaticToken(std::string token) : credential_(BearerCredential(token)) {}

BasicAuth::BasicAuth(const std::string& username, const std::string& password)
    : credential_{.authorization = "Basic " + absl::Base64Escape(username + ":" + password),
                  .client_certificate_pem = {},
                  .client_key_pem = {}} {}

TokenFile::TokenFile(std::string path, std::chrono::seconds refresh_interval, Clock clock)
    : path_(std::move(path)),
      refresh_interval_(refresh_interval),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

absl::StatusOr<std::unique_ptr<TokenFile>> TokenFile::Create(std::string path,
                                                             std::chrono::seconds refresh_interval,
                                                             Clock clock) {
  std::unique_ptr<TokenFile> file(
      new TokenFile(std::move(path), refresh_interval, std::move(clock)));
  absl::MutexLock lock(&file->mutex_);
  if (absl::Status status = file->ReloadLocked(); !status.ok()) return status;
  return file;
}

std::optional<TokenFile::FileIdentity> TokenFile::Identify(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return std::nullopt;
  return FileIdentity{.inode = static_cast<unsigned long long>(info.st_ino),
                      .size = static_cast<long long>(info.st_size),
                      .mtime_ns = static_cast<long long>(info.st_mtim.tv_sec) * 1000000000LL +
                                  info.st_mtim.tv_nsec};
}

absl::Status TokenFile::ReloadLocked() {
  // Identify before reading: a change racing with the read is seen next time.
  const std::optional<FileIdentity> identity = Identify(path_);
  last_read_ = clock_();
  absl::StatusOr<std::string> contents = ReadSmallFile(path_);
  if (!contents.ok()) return contents.status();
  std::string token = TrimWhitespace(*std::move(contents));
  if (token.empty())
    return absl::InvalidArgumentError(fmt::format("token file {} is empty", path_));
  token_ = std::move(token);
  identity_ = identity;
  return absl::OkStatus();
}

absl::StatusOr<Credential> TokenFile::GetCredential() {
  absl::MutexLock lock(&mutex_);
  // A stat per request is cheap and notices a rotation at once; the
  // periodic re-read catches changes a stat cannot see.
  const bool reload = clock_() - last_read_ >= refresh_interval_ || Identify(path_) != identity_;
  if (reload) {
    if (absl::Status status = ReloadLocked(); !status.ok()) {
      spdlog::warn("{}; keeping the previous token", std::string(status.message()));
    }
  }
  return BearerCredential(token_);
}

bool TokenFile::OnUnauthorized(const Credential& rejected) {
  absl::MutexLock lock(&mutex_);
  if (absl::Status status = ReloadLocked(); !status.ok()) {
    spdlog::warn("{}; keeping the previous token", std::string(status.message()));
  }
  return BearerCredential(token_) != rejected;
}

}  // namespace propsy::kube
