// A quiet cluster is normal: propsy's watches on real API servers that see
// no change for three minutes are neither restarted nor warned about, while
// the HTTP/2 liveness probe keeps proving their connections alive. (Before,
// every watch was torn down after 90 s of silence with a warning.) Runs in
// real time by design; it is the one test of the `soak` label.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "e2e/kube_e2e_fixture.h"
#include "support/wait.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using testing::IsEmpty;

constexpr auto kQuiet = 3min;

using KubeQuietWatchTest = KubePropsyTest;

TEST_F(KubeQuietWatchTest, QuietWatchesLiveThreeMinutesWithoutRestartOrWarning) {
  ASSERT_NO_FATAL_FAILURE(StartPropsyOnKube());
  ASSERT_TRUE(test::WaitFor(
      [&] { return Source(kZoneA, "endpoint").synced && Source(kZoneB, "endpoint").synced; }, 20s,
      100ms));
  auto totals = [&](const std::string& event) {
    double sum = 0;
    for (Zone zone : {kZoneA, kZoneB}) {
      for (const char* role : {"config", "endpoint"}) sum += SourceEvents(zone, role, event);
    }
    return sum;
  };
  // Two clusters, two roles, two collections each.
  ASSERT_TRUE(test::WaitFor([&] { return totals("watches") >= 8; }, 10s, 100ms))
      << totals("watches");
  // A watch the API server refused while its watch cache was still
  // initializing (HTTP 429 at start-up) is opened once more: the baseline is
  // taken once the count holds still.
  double watches = totals("watches");
  for (int settle = 0; settle < 10; ++settle) {
    std::this_thread::sleep_for(2s);
    const double now = totals("watches");
    if (now == watches) break;
    watches = now;
  }
  const double restarts = totals("watch_restarts");
  const size_t log_before = propsy_->process().ReadLog().size();

  std::this_thread::sleep_for(kQuiet);

  const std::string log = propsy_->process().ReadLog().substr(log_before);
  std::vector<std::string> warnings;
  std::vector<std::string> probes_disabled;
  size_t probes_answered = 0;
  std::set<std::string> probed_watches;  // "GET https://HOST:PORT/PATH" before the query
  size_t pos = 0;
  for (size_t end; (end = log.find('\n', pos)) != std::string::npos; pos = end + 1) {
    const std::string line = log.substr(pos, end - pos);
    if (line.find("[warning]") != std::string::npos || line.find("[error]") != std::string::npos) {
      warnings.push_back(line);
    }
    if (line.find("keepalive only") != std::string::npos) probes_disabled.push_back(line);
    if (line.find("quiet, and alive") != std::string::npos) {
      ++probes_answered;
      const size_t get = line.find("GET ");
      if (get != std::string::npos) probed_watches.insert(line.substr(get, line.find('?') - get));
    }
  }
  EXPECT_THAT(warnings, IsEmpty());
  EXPECT_EQ(totals("watch_restarts"), restarts);
  EXPECT_EQ(totals("watches"), watches);
  // Over HTTP/2 every quiet watch was probed (every 30 s of silence), not
  // left unwatched.
  EXPECT_THAT(probes_disabled, IsEmpty());
  EXPECT_EQ(probed_watches.size(), 8u) << testing::PrintToString(probed_watches);
  EXPECT_FALSE(Source(kZoneA, "config").stale);
  std::cout << fmt::format(
      "[liveness] {} s of quiet watches: {} restarts, {} warnings, {} probes answered\n",
      std::chrono::seconds(kQuiet).count(), totals("watch_restarts") - restarts, warnings.size(),
      probes_answered);
}

}  // namespace
}  // namespace propsy::e2e
