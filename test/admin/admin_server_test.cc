#include "admin/admin_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <stdexcept>

namespace propsy::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<AdminServer>> server =
        AdminServer::Create("127.0.0.1", 0, registry_, [this] {
          return ready_ ? absl::OkStatus() : absl::UnavailableError("waiting for zone-a to sync");
        });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_connection_timeout(5);
    client_->set_read_timeout(5);
  }

  metrics::Registry registry_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<AdminServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AdminServerTest, Healthz) {
  httplib::Result result = client_->Get("/healthz");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "ok\n");
}

TEST_F(AdminServerTest, ReadinessFollowsTheCheck) {
  httplib::Result before = client_->Get("/readyz");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 503);
  EXPECT_THAT(before->body, HasSubstr("waiting for zone-a to sync"));

  ready_ = true;
  httplib::Result after = client_->Get("/readyz");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  EXPECT_EQ(after->body, "ready\n");
}

TEST_F(AdminServerTest, MetricsServesTheRegistry) {
  registry_.AddCounter("propsy_pushes_total", "Pushes.", {"type"}).WithLabels({"lds"}).Increment(3);
  httplib::Result result = client_->Get("/metrics");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_THAT(result->get_header_value("Content-Type"), StartsWith("text/plain; version=0.0.4"));
  EXPECT_EQ(result->body, registry_.Exposition());
  EXPECT_THAT(result->body, HasSubstr("propsy_pushes_total{type=\"lds\"} 3\n"));
}

TEST_F(AdminServerTest, CustomHandlerSeesQueryParameters) {
  server_->Handle("/debug/config_dump", [](const Request& request) {
    if (!request.HasQuery("node")) {
      return Response{.status = 400, .content_type = "text/plain", .body = "node= is required"};
    }
    return Response{.status = 200,
                    .content_type = "application/json",
                    .body = "{\"node\":\"" + request.Query("node") + "\"}"};
  });
  httplib::Result result = client_->Get("/debug/config_dump?node=envoy%2F1&x=y");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(result->body, "{\"node\":\"envoy/1\"}");

  httplib::Result missing = client_->Get("/debug/config_dump");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
}

TEST_F(AdminServerTest, UnknownPathIs404AndOtherMethods405) {
  httplib::Result unknown = client_->Get("/nope");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  httplib::Result prefix = client_->Get("/healthz/extra");
  ASSERT_TRUE(prefix);
  EXPECT_EQ(prefix->status, 404);
  httplib::Result post = client_->Post("/healthz", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

TEST_F(AdminServerTest, ThrowingHandlerAnswers500AndTheServerStaysUp) {
  server_->Handle("/boom",
                  [](const Request&) -> Response { throw std::runtime_error("exploded"); });
  httplib::Result boom = client_->Get("/boom");
  ASSERT_TRUE(boom);
  EXPECT_EQ(boom->status, 500);
  EXPECT_THAT(boom->body, HasSubstr("exploded"));
  httplib::Result health = client_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(AdminServerTest, HandlerErrorStatusIsPassedThrough) {
  server_->Handle("/debug/services", [](const Request&) {
    return Response{.status = 503, .content_type = "text/plain", .body = "not synced"};
  });
  httplib::Result result = client_->Get("/debug/services");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 503);
  EXPECT_EQ(result->body, "not synced");
}

TEST_F(AdminServerTest, StopClosesThePortAndIsIdempotent) {
  int port = server_->port();
  server_->Stop();
  server_->Stop();
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1);
  EXPECT_FALSE(client.Get("/healthz"));
}

TEST(AdminServerBindTest, BusyPortIsAnError) {
  metrics::Registry registry;
  absl::StatusOr<std::unique_ptr<AdminServer>> first =
      AdminServer::Create("127.0.0.1", 0, registry, [] { return absl::OkStatus(); });
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<AdminServer>> second =
      AdminServer::Create("127.0.0.1", (*first)->port(), registry, [] { return absl::OkStatus(); });
  EXPECT_FALSE(second.ok());
}

TEST(AdminServerBindTest, EmptyHostListensOnEveryInterface) {
  metrics::Registry registry;
  absl::StatusOr<std::unique_ptr<AdminServer>> server =
      AdminServer::Create("", 0, registry, [] { return absl::OkStatus(); });
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  client.set_connection_timeout(5);
  httplib::Result result = client.Get("/readyz");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
}

}  // namespace
}  // namespace propsy::admin
