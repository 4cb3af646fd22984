#include "common/clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace propsy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(SimulatedClockTest, MovesOnlyWhenAdvanced) {
  SimulatedClock clock;
  Clock::TimePoint start = clock.Now();
  auto wall_start = clock.WallNow();
  std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(seconds(3));
  EXPECT_EQ(clock.Now() - start, seconds(3));
  EXPECT_EQ(clock.WallNow() - wall_start, seconds(3));
}

TEST(SimulatedClockTest, AwaitUntilReturnsAtDeadlineWithConditionFalse) {
  SimulatedClock clock;
  absl::Mutex mu;
  bool flag = false;
  bool result = true;
  Clock::TimePoint woke_at;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitUntil(mu, absl::Condition(&flag), clock.Now() + seconds(10));
    woke_at = clock.Now();
  });
  ASSERT_TRUE(clock.AwaitWaiters(1));
  Clock::TimePoint start = clock.Now();
  clock.Advance(seconds(9));
  // Still waiting: the deadline has not come.
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(clock.waiters(), 1u);
  clock.Advance(seconds(1));
  waiter.join();
  EXPECT_FALSE(result);
  EXPECT_EQ(woke_at - start, seconds(10));
  EXPECT_EQ(clock.waiters(), 0u);
}

TEST(SimulatedClockTest, AwaitUntilReturnsWhenConditionHolds) {
  SimulatedClock clock;
  absl::Mutex mu;
  bool flag = false;
  bool result = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitUntil(mu, absl::Condition(&flag), clock.Now() + seconds(10));
  });
  ASSERT_TRUE(clock.AwaitWaiters(1));
  {
    absl::MutexLock lock(&mu);
    flag = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
}

TEST(SimulatedClockTest, SleepUntilWakesOnAdvance) {
  SimulatedClock clock;
  Clock::TimePoint deadline = clock.Now() + milliseconds(250);
  std::thread sleeper([&] { clock.SleepUntil(deadline); });
  ASSERT_TRUE(clock.AwaitWaiters(1));
  clock.Advance(milliseconds(250));
  sleeper.join();
  EXPECT_GE(clock.Now(), deadline);
}

TEST(SimulatedClockTest, AwaitWaitersTimesOutWhenNobodyWaits) {
  SimulatedClock clock;
  EXPECT_FALSE(clock.AwaitWaiters(1, absl::Milliseconds(10)));
}

TEST(RealClockTest, AwaitUntilHonoursTheDeadline) {
  RealClock clock;
  absl::Mutex mu;
  bool flag = false;
  absl::MutexLock lock(&mu);
  Clock::TimePoint start = clock.Now();
  EXPECT_FALSE(clock.AwaitUntil(mu, absl::Condition(&flag), start + milliseconds(20)));
  EXPECT_GE(clock.Now() - start, milliseconds(20));
  flag = true;
  EXPECT_TRUE(clock.AwaitUntil(mu, absl::Condition(&flag), start));
}

}  // namespace
}  // namespace propsy
