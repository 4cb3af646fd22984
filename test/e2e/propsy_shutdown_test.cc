// Graceful shutdown of the propsy binary (SPEC §6): on SIGTERM /readyz turns
// 503 at once, new xDS streams are refused with UNAVAILABLE, the open ones
// are closed spread over -drainperiod, and the process exits 0 within the
// period + 2 s; a second signal exits at once. Real gRPC clients hold the
// streams; the spread itself is measured exactly on simulated time by
// StreamDrainTest (test/xds).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "e2e/propsy_e2e_fixture.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "support/wait.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using Clock = std::chrono::steady_clock;

// One ADS stream of node `node_id` on its own thread: subscribes to
// clusters, reads until the server ends the stream, and records how and
// when it ended.
class AdsClient {
 public:
  AdsClient(int xds_port, std::string node_id)
      : stub_(AggregatedDiscoveryService::NewStub(grpc::CreateChannel(
            fmt::format("127.0.0.1:{}", xds_port), grpc::InsecureChannelCredentials()))),
        thread_([this, node_id = std::move(node_id)] { Run(node_id); }) {}
  ~AdsClient() {
    context_.TryCancel();
    thread_.join();
  }

  bool got_response() const { return responses_.load() > 0; }
  bool ended() const { return ended_.load(); }
  grpc::Status status() const {
    std::lock_guard lock(mu_);
    return status_;
  }
  Clock::time_point ended_at() const {
    std::lock_guard lock(mu_);
    return ended_at_;
  }

 private:
  void Run(const std::string& node_id) {
    auto stream = stub_->StreamAggregatedResources(&context_);
    DiscoveryRequest request;
    request.mutable_node()->set_id(node_id);
    request.set_type_url("type.googleapis.com/envoy.config.cluster.v3.Cluster");
    stream->Write(request);
    DiscoveryResponse response;
    while (stream->Read(&response)) {
      responses_.fetch_add(1);
      DiscoveryRequest ack;
      ack.set_type_url(response.type_url());
      ack.set_version_info(response.version_info());
      ack.set_response_nonce(response.nonce());
      stream->Write(ack);
    }
    grpc::Status status = stream->Finish();
    std::lock_guard lock(mu_);
    status_ = status;
    ended_at_ = Clock::now();
    ended_.store(true);
  }

  std::unique_ptr<AggregatedDiscoveryService::Stub> stub_;
  grpc::ClientContext context_;
  std::atomic<int> responses_{0};
  std::atomic<bool> ended_{false};
  mutable std::mutex mu_;
  grpc::Status status_;
  Clock::time_point ended_at_;
  std::thread thread_;  // last: starts once everything else is built
};

class PropsyShutdownTest : public PropsyEnvoyTest {
 protected:
  void StartWithDrainPeriod(const std::string& period) {
    ServiceManifest web;
    web.name = "web";
    web.service = "web";
    web.listen_port = FreePort();
    WriteConfig("zone-a", "web.yaml", ServiceYaml(web));
    test::PropsyProcessOptions options;
    options.binary = PROPSY_BINARY_PATH;
    options.args = PropsyArgs();
    options.args.push_back("-drainperiod=" + period);
    options.admin_port = admin_port_;
    options.log_path = dir_.File("propsy.log");
    for (const ZoneLayout& zone : zones_) {
      std::filesystem::create_directories(ConfigDir(zone.name));
      std::filesystem::create_directories(EndpointDir(zone.name));
    }
    auto started = test::PropsyProcess::Start(options);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    propsy_ = std::move(*started);
    absl::Status ready = propsy_->WaitReady(30s);
    ASSERT_TRUE(ready.ok()) << ready.ToString();
  }

  // Opens `count` streams and waits until each got its first response.
  std::vector<std::unique_ptr<AdsClient>> OpenStreams(int count) {
    std::vector<std::unique_ptr<AdsClient>> clients;
    for (int i = 0; i < count; ++i) {
      clients.push_back(std::make_unique<AdsClient>(xds_port_, fmt::format("edge-{}", i)));
    }
    EXPECT_TRUE(test::WaitFor(
        [&] {
          return std::all_of(clients.begin(), clients.end(),
                             [](const auto& c) { return c->got_response(); });
        },
        20s))
        << propsy_->LogTail();
    return clients;
  }

  int ReadyzStatus() {
    absl::StatusOr<test::AdminAnswer> answer = propsy_->AdminGet("/readyz");
    return answer.ok() ? answer->status : 0;
  }
};

TEST_F(PropsyShutdownTest, SigtermDrainsStreamsSpreadOverThePeriodAndExitsZero) {
  ASSERT_NO_FATAL_FAILURE(StartWithDrainPeriod("3s"));
  constexpr int kStreams = 30;
  std::vector<std::unique_ptr<AdsClient>> clients = OpenStreams(kStreams);
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(ReadyzStatus(), 200);

  const Clock::time_point signalled = Clock::now();
  ASSERT_EQ(kill(propsy_->process().pid(), SIGTERM), 0);
  // Not ready at once (the admin server keeps answering during the drain).
  ASSERT_TRUE(test::WaitFor([&] { return ReadyzStatus() == 503; }, 2s, 5ms));
  const auto not_ready_after =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - signalled);
  EXPECT_LT(not_ready_after, 500ms);
  absl::StatusOr<test::AdminAnswer> health = propsy_->AdminGet("/healthz");
  EXPECT_TRUE(health.ok() && health->status == 200);

  // A new stream is refused while the old ones drain.
  AdsClient late(xds_port_, "edge-late");
  ASSERT_TRUE(test::WaitFor([&] { return late.ended(); }, 5s));
  EXPECT_EQ(late.status().error_code(), grpc::StatusCode::UNAVAILABLE)
      << late.status().error_message();
  EXPECT_FALSE(late.got_response());

  std::optional<int> status = propsy_->process().Wait(3s + 2s);
  const auto exited_after =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - signalled);
  ASSERT_TRUE(status.has_value()) << "still running 5 s after SIGTERM\n" << propsy_->LogTail();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << propsy_->process().DescribeExit() << "\n"
      << propsy_->LogTail();

  // Every open stream was closed with UNAVAILABLE, spread over the 3 s: one
  // every 100 ms, so at most two in the first 100 ms and the last after 2 s.
  std::vector<std::chrono::milliseconds> closes;
  for (const auto& client : clients) {
    ASSERT_TRUE(test::WaitFor([&] { return client->ended(); }, 2s));
    EXPECT_EQ(client->status().error_code(), grpc::StatusCode::UNAVAILABLE)
        << client->status().error_message();
    closes.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(client->ended_at() - signalled));
  }
  std::sort(closes.begin(), closes.end());
  const auto in_first_100ms =
      std::count_if(closes.begin(), closes.end(), [](auto at) { return at < 100ms; });
  std::cout << fmt::format(
      "[shutdown] {} streams closed from {} ms to {} ms after SIGTERM ({} in the first 100 ms); "
      "not ready after {} ms; exited after {} ms\n",
      kStreams, closes.front().count(), closes.back().count(), in_first_100ms,
      not_ready_after.count(), exited_after.count());
  EXPECT_LE(in_first_100ms, 2);
  EXPECT_GE(closes.back(), 2s);
  EXPECT_LE(closes.back(), 3s + 500ms);
  propsy_.reset();
}

TEST_F(PropsyShutdownTest, SecondSignalExitsAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartWithDrainPeriod("60s"));
  std::vector<std::unique_ptr<AdsClient>> clients = OpenStreams(3);
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(kill(propsy_->process().pid(), SIGTERM), 0);
  ASSERT_TRUE(test::WaitFor([&] { return ReadyzStatus() == 503; }, 2s, 5ms));
  // Draining: the later streams wait for their turn (20 s, 40 s).
  EXPECT_TRUE(propsy_->process().Running());
  const Clock::time_point second = Clock::now();
  ASSERT_EQ(kill(propsy_->process().pid(), SIGINT), 0);
  std::optional<int> status = propsy_->process().Wait(2s);
  ASSERT_TRUE(status.has_value()) << "still running 2 s after the second signal";
  std::cout << fmt::format(
      "[shutdown] exited {} ms after the second signal ({})\n",
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - second).count(),
      propsy_->process().DescribeExit());
  EXPECT_THAT(propsy_->process().ReadLog(), testing::HasSubstr("exiting at once"));
  propsy_.reset();
}

// A drain with no streams open ends at once: the default period does not
// delay a replica that serves nobody.
TEST_F(PropsyShutdownTest, NoStreamsExitsAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartWithDrainPeriod("10s"));
  const Clock::time_point signalled = Clock::now();
  ASSERT_EQ(kill(propsy_->process().pid(), SIGTERM), 0);
  std::optional<int> status = propsy_->process().Wait(2s);
  ASSERT_TRUE(status.has_value()) << "still running 2 s after SIGTERM with no streams";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << propsy_->process().DescribeExit();
  std::cout << fmt::format(
      "[shutdown] no streams: exited {} ms after SIGTERM\n",
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - signalled).count());
  propsy_.reset();
}

}  // namespace
}  // namespace propsy::e2e
