#include "xds/stream_drain.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace propsy::xds {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Real-time bound for the drain thread to react to simulated time.
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 5000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return done();
}

// Streams that record when (in simulated time since the drain began) they
// were closed.
class SimulatedStreams {
 public:
  SimulatedStreams(StreamDrain& drain, SimulatedClock& clock, size_t count)
      : clock_(clock), start_(clock.Now()), closed_at_(count) {
    for (size_t i = 0; i < count; ++i) {
      admissions_.push_back(drain.Admit([this, i] {
        closed_at_[i] = clock_.Now() - start_;
        closed_.fetch_add(1);
      }));
    }
  }
  size_t closed() const { return closed_.load(); }
  Clock::Duration closed_at(size_t i) const { return closed_at_[i]; }
  // The stream ends on its own (its client went away).
  void End(size_t i) { admissions_[i].reset(); }
  bool admitted(size_t i) const { return admissions_[i] != nullptr; }

 private:
  SimulatedClock& clock_;
  const Clock::TimePoint start_;
  std::vector<Clock::Duration> closed_at_;
  std::atomic<size_t> closed_{0};
  std::vector<std::unique_ptr<StreamDrain::Admission>> admissions_;
};

TEST(StreamDrainTest, ClosesSpreadEvenlyOverThePeriod) {
  SimulatedClock clock;
  StreamDrain drain;
  constexpr size_t kStreams = 200;
  const Clock::Duration period = seconds(10);
  SimulatedStreams streams(drain, clock, kStreams);
  ASSERT_EQ(drain.open_streams(), kStreams);

  std::atomic<bool> returned{false};
  std::thread drainer([&] {
    drain.Drain(clock, period);
    returned.store(true);
  });
  // Step simulated time to each stream's turn: exactly one more closes, and
  // none before its turn.
  Clock::Duration elapsed{0};
  for (size_t i = 0; i < kStreams; ++i) {
    const Clock::Duration due = period * i / kStreams;
    clock.Advance(due - elapsed);
    elapsed = due;
    ASSERT_TRUE(Eventually([&] { return streams.closed() >= i + 1; })) << "stream " << i;
    if (i + 1 < kStreams) {
      ASSERT_TRUE(clock.AwaitWaiters(1));
      EXPECT_EQ(streams.closed(), i + 1) << "a stream closed before its turn after " << i;
    }
  }
  ASSERT_TRUE(Eventually([&] { return returned.load(); }));
  drainer.join();

  size_t in_first_100ms = 0;
  for (size_t i = 0; i < kStreams; ++i) {
    EXPECT_EQ(streams.closed_at(i), period * i / kStreams) << "stream " << i;
    EXPECT_LT(streams.closed_at(i), period);
    if (streams.closed_at(i) < milliseconds(100)) ++in_first_100ms;
  }
  // 200 streams over 10 s: one every 50 ms, so two in the first 100 ms.
  EXPECT_EQ(in_first_100ms, 2u);
  EXPECT_EQ(drain.open_streams(), 0u);
}

TEST(StreamDrainTest, RefusesNewStreamsOnceDraining) {
  StreamDrain drain;
  auto before = drain.Admit([] {});
  ASSERT_NE(before, nullptr);
  EXPECT_FALSE(drain.draining());
  drain.BeginDrain();
  EXPECT_TRUE(drain.draining());
  EXPECT_EQ(drain.Admit([] {}), nullptr);
  EXPECT_EQ(drain.open_streams(), 1u);
}

TEST(StreamDrainTest, StreamsThatEndedOnTheirOwnAreNotClosed) {
  SimulatedClock clock;
  StreamDrain drain;
  SimulatedStreams streams(drain, clock, 4);
  streams.End(1);
  streams.End(3);
  EXPECT_EQ(drain.open_streams(), 2u);
  std::thread drainer([&] { drain.Drain(clock, seconds(4)); });
  // Only the two still open are scheduled: at 0 s and 2 s.
  ASSERT_TRUE(Eventually([&] { return streams.closed() == 1; }));
  ASSERT_TRUE(clock.AwaitWaiters(1));
  clock.Advance(seconds(2));
  ASSERT_TRUE(Eventually([&] { return streams.closed() == 2; }));
  drainer.join();
  EXPECT_EQ(streams.closed_at(0), seconds(0));
  EXPECT_EQ(streams.closed_at(2), seconds(2));
}

TEST(StreamDrainTest, AStreamEndingWhileWaitingForItsTurnIsSkipped) {
  SimulatedClock clock;
  StreamDrain drain;
  SimulatedStreams streams(drain, clock, 3);
  std::thread drainer([&] { drain.Drain(clock, seconds(3)); });
  ASSERT_TRUE(Eventually([&] { return streams.closed() == 1; }));
  ASSERT_TRUE(clock.AwaitWaiters(1));
  streams.End(1);  // its turn (1 s) has not come
  clock.Advance(seconds(2));
  ASSERT_TRUE(Eventually([&] { return streams.closed() == 2; }));
  drainer.join();
  EXPECT_EQ(streams.closed_at(2), seconds(2));
}

TEST(StreamDrainTest, ZeroPeriodClosesEverythingAtOnce) {
  SimulatedClock clock;
  StreamDrain drain;
  SimulatedStreams streams(drain, clock, 50);
  drain.Drain(clock, Clock::Duration(0));  // no simulated time needed
  EXPECT_EQ(streams.closed(), 50u);
}

TEST(StreamDrainTest, NoStreamsReturnsAtOnce) {
  SimulatedClock clock;
  StreamDrain drain;
  drain.Drain(clock, seconds(10));
  EXPECT_TRUE(drain.draining());
}

TEST(StreamDrainTest, AbortEndsTheDrainWithoutClosingMore) {
  SimulatedClock clock;
  StreamDrain drain;
  SimulatedStreams streams(drain, clock, 10);
  std::atomic<bool> returned{false};
  std::thread drainer([&] {
    drain.Drain(clock, seconds(10));
    returned.store(true);
  });
  ASSERT_TRUE(Eventually([&] { return streams.closed() == 1; }));
  ASSERT_TRUE(clock.AwaitWaiters(1));
  drain.Abort();
  ASSERT_TRUE(Eventually([&] { return returned.load(); }));
  drainer.join();
  EXPECT_EQ(streams.closed(), 1u);
  EXPECT_EQ(drain.open_streams(), 9u);
}

}  // namespace
}  // namespace propsy::xds
