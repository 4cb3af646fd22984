// The libcurl transport's streaming (watches), cancellation, quiet streams,
// timeouts and proxies, against a local HTTPS server (HTTP/1.1; the HTTP/2
// liveness probe is tested on real API servers, test/e2e).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kube/curl_transport.h"
#include "kube/transport_test_fixture.h"

namespace propsy::kube::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

TEST_F(CurlTransportTest, StreamsChunksAsTheyArrive) {
  TestServer server(server_files_);
  server.http().Get("/watch", [&](const httplib::Request&, httplib::Response& response) {
    response.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
      for (const char* event : {"{\"n\":1}\n", "{\"n\":2}\n", "{\"n\":3}\n"}) {
        sink.write(event, std::strlen(event));
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      }
      sink.done();
      return true;
    });
  });
  server.Start();
  std::unique_ptr<CurlTransport> transport = Transport(Config(server));
  std::vector<std::pair<std::string, Clock::time_point>> chunks;
  std::atomic<bool> cancelled{false};
  absl::StatusOr<HttpResponse> response = transport->Stream(
      Get("/watch"),
      [&](std::string_view chunk) {
        chunks.emplace_back(std::string(chunk), Clock::now());
        return true;
      },
      cancelled);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->body.empty());
  // First an empty chunk: the answer's headers are in.
  ASSERT_FALSE(chunks.empty());
  EXPECT_EQ(chunks.front().first, "");
  std::erase_if(chunks, [](const auto& chunk) { return chunk.first.empty(); });
  std::string all;
  for (const auto& [chunk, when] : chunks) all += chunk;
  EXPECT_EQ(all, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
  ASSERT_GE(chunks.size(), 3u);
  // Delivered while the server was still writing, not at the end.
  EXPECT_GE(chunks.back().second - chunks.front().second, std::chrono::milliseconds(450));
}

TEST_F(CurlTransportTest, StreamStopsWhenTheCallbackSaysSo) {
  TestServer server(server_files_);
  server.http().Get("/watch", [&](const httplib::Request&, httplib::Response& response) {
    response.set_chunked_content_provider(
        "application/json", [&server](size_t, httplib::DataSink& sink) {
          while (!server.stopping() && sink.is_writable()) {
            sink.write("{}\n", 3);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
          return false;
        });
  });
  server.Start();
  int calls = 0;
  std::atomic<bool> cancelled{false};
  absl::StatusOr<HttpResponse> response =
      Transport(Config(server))
          ->Stream(
              Get("/watch"), [&](std::string_view chunk) { return chunk.empty() || ++calls < 3; },
              cancelled);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(calls, 3);
}

// A watch that sends one event and then nothing.
void AddStalledWatch(TestServer* server) {
  server->http().Get("/watch", [server](const httplib::Request&, httplib::Response& response) {
    response.set_chunked_content_provider(
        "application/json", [server](size_t offset, httplib::DataSink& sink) {
          if (offset == 0) sink.write("{}\n", 3);
          while (!server->stopping() && sink.is_writable()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
          return false;
        });
  });
}

TEST_F(CurlTransportTest, CancellationEndsAStreamQuickly) {
  TestServer server(server_files_);
  AddStalledWatch(&server);
  server.Start();
  std::unique_ptr<CurlTransport> transport = Transport(Config(server));
  std::atomic<bool> cancelled{false};
  Clock::time_point cancelled_at;
  std::thread canceller;
  absl::StatusOr<HttpResponse> response = transport->Stream(
      Get("/watch"),
      [&](std::string_view) {
        if (canceller.joinable()) return true;
        canceller = std::thread([&] {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          cancelled_at = Clock::now();
          cancelled = true;
        });
        return true;
      },
      cancelled);
  const Clock::time_point returned_at = Clock::now();
  ASSERT_TRUE(canceller.joinable());
  canceller.join();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(returned_at - cancelled_at, std::chrono::milliseconds(300));
}

// A watch on a quiet collection sends nothing for minutes: silence is not
// death. Over HTTP/1.1 (this server) no probe can share the connection, so
// none is sent and only TCP keepalive watches it.
TEST_F(CurlTransportTest, QuietStreamIsNotEnded) {
  TestServer server(server_files_);
  AddStalledWatch(&server);
  AddOk(&server, "/version");
  server.Start();
  CurlTransportOptions options;
  options.stream_probe_after = std::chrono::milliseconds(100);
  options.stream_probe_timeout = std::chrono::milliseconds(100);
  std::unique_ptr<CurlTransport> transport = Transport(Config(server), options);
  std::atomic<bool> cancelled{false};
  std::thread canceller;
  absl::StatusOr<HttpResponse> response = transport->Stream(
      Get("/watch"),
      [&](std::string_view) {
        if (!canceller.joinable()) {
          canceller = std::thread([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(1500));
            cancelled = true;
          });
        }
        return true;
      },
      cancelled);
  ASSERT_TRUE(canceller.joinable());
  canceller.join();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kCancelled) << response.status();
  EXPECT_THAT(server.seen(), ::testing::IsEmpty()) << "no probe over HTTP/1.1";
}

TEST_F(CurlTransportTest, ErrorAnswersComeBackWholeWithRetryAfter) {
  TestServer server(server_files_);
  server.http().Get("/watch", [](const httplib::Request&, httplib::Response& response) {
    response.status = 429;
    response.set_header("Retry-After", "7");
    response.set_content("{\"kind\":\"Status\",\"code\":429}", "application/json");
  });
  server.Start();
  std::atomic<bool> cancelled{false};
  int chunks = 0;
  absl::StatusOr<HttpResponse> response = Transport(Config(server))
                                              ->Stream(
                                                  Get("/watch"),
                                                  [&](std::string_view) {
                                                    ++chunks;
                                                    return true;
                                                  },
                                                  cancelled);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(response->headers["retry-after"], "7");
  EXPECT_EQ(response->body, "{\"kind\":\"Status\",\"code\":429}");
  EXPECT_EQ(chunks, 0);
}

TEST_F(CurlTransportTest, RequestTimeoutIsDeadlineExceeded) {
  TestServer server(server_files_);
  server.http().Get("/slow", [](const httplib::Request&, httplib::Response& response) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    response.set_content("late", "text/plain");
  });
  server.Start();
  HttpRequest request = Get("/slow");
  request.timeout = std::chrono::milliseconds(300);
  absl::StatusOr<HttpResponse> response = Transport(Config(server))->Send(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
}

// A proxy that records the first request line it gets and refuses it.
TEST_F(CurlTransportTest, UsesTheConfiguredProxy) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  socklen_t length = sizeof(address);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::string request_line;
  std::thread proxy([&] {
    const int connection = ::accept(listener, nullptr, nullptr);
    if (connection < 0) return;
    char buffer[1024];
    std::string received;
    while (received.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::read(connection, buffer, sizeof(buffer));
      if (n <= 0) break;
      received.append(buffer, static_cast<size_t>(n));
    }
    request_line = received.substr(0, received.find("\r\n"));
    const char answer[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    (void)::write(connection, answer, sizeof(answer) - 1);
    ::close(connection);
  });
  ClusterConnectionConfig config{
      .context = "test",
      .server = "https://kube.test:6443",
      .certificate_authority_pem = {},
      .client_certificate_pem = {},
      .client_key_pem = {},
      .tls_server_name = {},
      .insecure_skip_tls_verify = false,
      .proxy_url = fmt::format("http://127.0.0.1:{}", ntohs(address.sin_port)),
      .authenticator = nullptr};
  absl::StatusOr<HttpResponse> response = Transport(config)->Send(Get("/version"));
  proxy.join();
  ::close(listener);
  EXPECT_FALSE(response.ok());
  EXPECT_EQ(request_line, "CONNECT kube.test:6443 HTTP/1.1");
}

}  // namespace
}  // namespace propsy::kube::testing
