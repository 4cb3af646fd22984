#include "xds/write_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "support/wait.h"

namespace propsy::xds {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;

// Records grants as they come; keeps them (holding their bytes) until told.
struct Recorder {
  std::mutex mu;
  std::vector<int> order;
  std::map<int, WriteBudget::Grant> held;

  WriteBudget::Ready For(int id) {
    return [this, id](WriteBudget::Grant grant) {
      std::lock_guard lock(mu);
      order.push_back(id);
      held.emplace(id, std::move(grant));
    };
  }
  void Release(int id) {
    WriteBudget::Grant grant;
    {
      std::lock_guard lock(mu);
      grant = std::move(held.at(id));
      held.erase(id);
    }
  }  // released here, outside the lock: it may start the next write
  std::vector<int> Order() {
    std::lock_guard lock(mu);
    return order;
  }
};

TEST(WriteBudgetTest, WritesThatFitStartAtOnceOthersWaitInOrder) {
  WriteBudget budget(100, milliseconds(60'000));
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
  WriteBudget budget(100, milliseconds(60'000));
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

TEST(WriteBudgetTest, AStalledWriteStopsBlockingOthers) {
  WriteBudget budget(100, milliseconds(100));
  Recorder recorder;
  budget.Acquire(100, recorder.For(1));  // its client never reads
  auto asked = std::chrono::steady_clock::now();
  budget.Acquire(50, recorder.For(2));
  EXPECT_THAT(recorder.Order(), ElementsAre(1));
  ASSERT_TRUE(test::WaitFor([&] { return recorder.Order().size() == 2; }, milliseconds(3000)));
  EXPECT_GE(std::chrono::steady_clock::now() - asked, milliseconds(90));
  EXPECT_EQ(budget.stats().stalled, 1u);
  EXPECT_EQ(budget.stats().bytes_in_flight, 50u);
  recorder.Release(1);  // a stalled write finishing late changes nothing
  EXPECT_EQ(budget.stats().bytes_in_flight, 50u);
  recorder.Release(2);
  EXPECT_EQ(budget.stats().bytes_in_flight, 0u);
}

}  // namespace
}  // namespace propsy::xds
