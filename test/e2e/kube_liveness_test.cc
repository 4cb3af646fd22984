// Dead watch connections are found without taking silence for death
// (docs/architecture.md, "Watch liveness"): a connection whose peer keeps
// acknowledging TCP but stops answering (a forwarder that blackholes it) is
// noticed within 45 s over HTTP/2, and a stopped API server at once. The
// figures are printed as "[liveness] ...".
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "e2e/kube_e2e_fixture.h"
#include "e2e/tcp_forwarder.h"
#include "support/wait.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// CurlTransportOptions: 30 s of silence, then 15 s for the probe's answer.
constexpr auto kDocumentedDetection = 45s;
// Polling, scheduling on a loaded 2-core machine.
constexpr auto kSlack = 5s;

double Seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

class KubeLivenessTest : public KubePropsyTest {
 protected:
  double Restarts(Zone zone) {
    return SourceEvents(zone, "config", "watch_restarts") +
           SourceEvents(zone, "endpoint", "watch_restarts");
  }
  // Lines of propsy's log saying a connection was found dead.
  size_t DeadConnectionLines() {
    return propsy_->process().LogLinesContaining({"the connection is dead"}).size();
  }
};

TEST_F(KubeLivenessTest, BlackholedConnectionIsNoticedWithinTheDocumentedTime) {
  absl::StatusOr<std::unique_ptr<TcpForwarder>> forwarder =
      TcpForwarder::Start(kube().cluster(kZoneA).apiserver_port);
  ASSERT_TRUE(forwarder.ok()) << forwarder.status().ToString();
  WriteZoneKubeconfig(kZoneA, fmt::format("https://127.0.0.1:{}", (*forwarder)->port()),
                      AdminTokenUser(kZoneA));
  ASSERT_NO_FATAL_FAILURE(StartPropsyOnKube());
  ASSERT_TRUE(test::WaitFor([&] { return Source(kZoneA, "endpoint").synced; }, 20s, 100ms));
  // Four watches through the forwarder (ProPsyServices, Secrets,
  // EndpointSlices, Endpoints), each on its own connection.
  const double restarts = Restarts(kZoneA);
  ASSERT_EQ(DeadConnectionLines(), 0u);

  (*forwarder)->Blackhole();
  const Clock::time_point blackholed = Clock::now();
  Clock::time_point first_noticed, all_noticed;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        const size_t dead = DeadConnectionLines();
        if (dead >= 1 && first_noticed == Clock::time_point()) first_noticed = Clock::now();
        if (dead >= 4) all_noticed = Clock::now();
        return dead >= 4;
      },
      kDocumentedDetection + kSlack + 30s, 200ms))
      << "dead connections noticed: " << DeadConnectionLines() << "\n"
      << propsy_->LogTail();
  std::cout << fmt::format(
      "[liveness] blackholed connections: first noticed after {:.1f} s, all four after {:.1f} s "
      "(documented: within {} s)\n",
      Seconds(first_noticed - blackholed), Seconds(all_noticed - blackholed),
      std::chrono::seconds(kDocumentedDetection).count());
  EXPECT_LE(all_noticed - blackholed, kDocumentedDetection + kSlack);
  EXPECT_GE(Restarts(kZoneA), restarts + 4);
  EXPECT_TRUE(test::WaitFor([&] { return Source(kZoneA, "config").stale; }, 40s, 200ms))
      << "zone-a never turned stale";

  // Back: the watches return and the source is fresh again.
  (*forwarder)->Cut();
  ASSERT_TRUE((*forwarder)->Restore().ok());
  EXPECT_TRUE(test::WaitFor(
      [&] { return !Source(kZoneA, "config").stale && !Source(kZoneA, "endpoint").stale; }, 60s,
      200ms))
      << propsy_->LogTail();

  // zone-b's API server stops: the kernel closes its connections, noticed
  // at once.
  const double zone_b_restarts = Restarts(kZoneB);
  const Clock::time_point stopped = Clock::now();
  ASSERT_NO_FATAL_FAILURE(StopApiserver(kZoneB));
  Clock::time_point noticed;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        noticed = Clock::now();
        return Restarts(kZoneB) >= zone_b_restarts + 4;
      },
      20s, 50ms));
  std::cout << fmt::format("[liveness] stopped API server: all four watches ended after {:.1f} s\n",
                           Seconds(noticed - stopped));
  EXPECT_LE(noticed - stopped, 5s);
  ASSERT_NO_FATAL_FAILURE(StartApiserver(kZoneB));
}

}  // namespace
}  // namespace propsy::e2e
