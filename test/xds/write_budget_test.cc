#include "xds/write_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "support/wait.h"

namespace propsy::xds {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;

// Records grants as they come; keeps them (holding their bytes) until told.
struct Recorder {
  absl::Mutex mu;
  std::vector<int> order ABSL_GUARDED_BY(mu);
  std::map<int, WriteBudget::Grant> held ABSL_GUARDED_BY(mu);

  WriteBudget::Ready For(int id) {
    return [this, id](WriteBudget::Grant grant) {
      absl::MutexLock lock(&mu);
      order.push_back(id);
      held.emplace(id, std::move(grant));
    };
  }
  void Release(int id) {
    WriteBudget::Grant grant;
    {
      absl::MutexLock lock(&mu);
      grant = std::move(held.at(id));
      held.erase(id);
    }
  }  // released here, outside the lock: it may start the next write
  std::vector<int> Order() {
    absl::MutexLock lock(&mu);
    return order;
  }
};

TEST(WriteBudgetTest, WritesThatFitStartAtOnceOthersWaitInOrder) {
  SimulatedClock clock;
  WriteBudget budget(100, milliseconds(60'000), clock);
  Recorder recorder;
  budget.Acquire(60, recorder.For(1));
  budget.Acquire(30, recorder.For(2));
  EXPECT_THAT(recorder.Order(), ElementsAre(1, 2)) << "both fit: started on the calling thread";
  budget.Acquire(50, recorder.For(3));
  budget.Acquire(5, recorder.For(4));  // fits, but must not overtake 3
  EXPECT_THAT(recorder.Order(), ElementsAre(1, 2));
  EXPECT_EQ(budget.stats().waiting, 2u);
  EXPECT_EQ(budget.stats().bytes_in_flight, 90u);

  recorder.Release(1);
  EXPECT_THAT(recorder.Order(), ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(budget.stats().bytes_in_flight, 85u);
  recorder.Release(2);
  recorder.Release(3);
  recorder.Release(4);
  EXPECT_EQ(budget.stats().bytes_in_flight, 0u);
}

TEST(WriteBudgetTest, AWriteLargerThanTheBudgetRunsAlone) {
  SimulatedClock clock;
  WriteBudget budget(100, milliseconds(60'000), clock);
  Recorder recorder;
  budget.Acquire(10, recorder.For(1));
  budget.Acquire(500, recorder.For(2));
  EXPECT_THAT(recorder.Order(), ElementsAre(1));
  recorder.Release(1);
  EXPECT_THAT(recorder.Order(), ElementsAre(1, 2));
  budget.Acquire(1, recorder.For(3));
  EXPECT_THAT(recorder.Order(), ElementsAre(1, 2)) << "nothing joins an oversized write";
  recorder.Release(2);
  EXPECT_THAT(recorder.Order(), ElementsAre(1, 2, 3));
}

// Runs `step`, which wakes the stall watcher, and waits until the watcher
// has done its work and sleeps again.
template <typename Step>
void WakingWatcher(SimulatedClock& clock, Step step) {
  const uint64_t before = clock.wakeups();
  step();
  ASSERT_TRUE(test::WaitFor([&] { return clock.wakeups() > before && clock.waiters() == 1; },
                            milliseconds(10'000), milliseconds(1)));
}

TEST(WriteBudgetTest, AStalledWriteStopsBlockingOthers) {
  SimulatedClock clock;
  WriteBudget budget(100, milliseconds(100), clock);
  Recorder recorder;
  ASSERT_TRUE(clock.AwaitWaiters(1)) << "the stall watcher waits";
  // Its client never reads.
  WakingWatcher(clock, [&] { budget.Acquire(100, recorder.For(1)); });
  budget.Acquire(50, recorder.For(2));
  EXPECT_THAT(recorder.Order(), ElementsAre(1));
  EXPECT_EQ(clock.Advance(milliseconds(99)), 0u);
  EXPECT_THAT(recorder.Order(), ElementsAre(1));
  EXPECT_EQ(budget.stats().stalled, 0u);
  WakingWatcher(clock, [&] { EXPECT_EQ(clock.Advance(milliseconds(1)), 1u); });
  EXPECT_THAT(recorder.Order(), ElementsAre(1, 2)) << "write 2 starts once write 1 stalls";
  EXPECT_EQ(budget.stats().stalled, 1u);
  EXPECT_EQ(budget.stats().bytes_in_flight, 50u);
  recorder.Release(1);  // a stalled write finishing late changes nothing
  EXPECT_EQ(budget.stats().bytes_in_flight, 50u);
  recorder.Release(2);
  EXPECT_EQ(budget.stats().bytes_in_flight, 0u);
}

TEST(WriteBudgetTest, AWriteStallsOnlyWhenItIsOldEnough) {
  SimulatedClock clock;
  WriteBudget budget(100, milliseconds(100), clock);
  Recorder recorder;
  ASSERT_TRUE(clock.AwaitWaiters(1));
  WakingWatcher(clock, [&] { budget.Acquire(100, recorder.For(1)); });
  EXPECT_EQ(clock.Advance(milliseconds(99)), 0u);
  recorder.Release(1);  // finished in time
  // A new first write gives the watcher a new deadline: 100 ms from now.
  WakingWatcher(clock, [&] { budget.Acquire(100, recorder.For(2)); });
  EXPECT_EQ(clock.Advance(milliseconds(99)), 0u);
  EXPECT_EQ(budget.stats().stalled, 0u);
  EXPECT_EQ(budget.stats().bytes_in_flight, 100u);
  WakingWatcher(clock, [&] { EXPECT_EQ(clock.Advance(milliseconds(1)), 1u); });
  EXPECT_EQ(budget.stats().stalled, 1u);
  EXPECT_EQ(budget.stats().bytes_in_flight, 0u);
  recorder.Release(2);
}

}  // namespace
}  // namespace propsy::xds
