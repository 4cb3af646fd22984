#include "support/tls_probe.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

namespace propsy::test {
namespace {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};

// Closes the socket when the probe returns.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// The thread's OpenSSL errors as text (and the queue left empty).
std::string OpenSslErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text.empty() ? "no OpenSSL error" : text;
}

}  // namespace

absl::StatusOr<TlsProbeResult> ProbeTls(int port, const std::string& server_name,
                                        const std::string& http_path) {
  Socket socket_fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (socket_fd.fd() < 0) return absl::InternalError(fmt::format("socket: {}", strerror(errno)));
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  setsockopt(socket_fd.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(socket_fd.fd(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(socket_fd.fd(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return absl::UnavailableError(fmt::format("connect 127.0.0.1:{}: {}", port, strerror(errno)));
  }

  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new: " + OpenSslErrors());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  if (ssl == nullptr) return absl::InternalError("SSL_new: " + OpenSslErrors());
  SSL_set_fd(ssl.get(), socket_fd.fd());
  SSL_set_tlsext_host_name(ssl.get(), server_name.c_str());
  if (SSL_connect(ssl.get()) != 1) {
    return absl::UnavailableError(
        fmt::format("TLS handshake with 127.0.0.1:{} failed: {}", port, OpenSslErrors()));
  }

  TlsProbeResult result;
  std::unique_ptr<X509, X509Deleter> cert(SSL_get1_peer_certificate(ssl.get()));
  if (cert == nullptr) return absl::UnavailableError("the server presented no certificate");
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof(cn)) <
      0) {
    return absl::UnavailableError("the server's certificate has no common name");
  }
  result.subject_cn = cn;

  if (!http_path.empty()) {
    std::string request = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                                      http_path, server_name);
    if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) <= 0) {
      return absl::UnavailableError("TLS write failed: " + OpenSslErrors());
    }
    char buffer[4096];
    while (true) {
      int n = SSL_read(ssl.get(), buffer, sizeof(buffer));
      if (n <= 0) break;
      result.http_response.append(buffer, static_cast<size_t>(n));
    }
    ERR_clear_error();
  }
  SSL_shutdown(ssl.get());
  ERR_clear_error();
  return result;
}

}  // namespace propsy::test
