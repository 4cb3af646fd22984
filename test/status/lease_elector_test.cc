// LeaseElector against an in-memory API server, on simulated time.

#include "status/lease_elector.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "status/fake_api_server.h"

namespace propsy::status {
namespace {

using namespace std::chrono_literals;

constexpr char kLeasePath[] = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/propsy";

// One candidate's connection to the shared server, which it can lose alone.
class CandidateTransport : public kube::HttpTransport {
 public:
  explicit CandidateTransport(testing::FakeApiServer& server) : server_(server) {}
  void SetOutage(bool outage) { outage_ = outage; }
  absl::StatusOr<kube::HttpResponse> Send(const kube::HttpRequest& request) override {
    if (outage_) return absl::UnavailableError("connection refused");
    return server_.Send(request);
  }
  absl::StatusOr<kube::HttpResponse> Stream(const kube::HttpRequest& request,
                                            const ChunkCallback& on_chunk,
                                            const std::atomic<bool>& cancelled) override {
    return server_.Stream(request, on_chunk, cancelled);
  }
  std::string Describe() const override { return "candidate"; }

 private:
  testing::FakeApiServer& server_;
  std::atomic<bool> outage_{false};
};

class LeaseElectorTest : public ::testing::Test {
 protected:
  std::unique_ptr<LeaseElector> Candidate(CandidateTransport& transport, const std::string& id) {
    return std::make_unique<LeaseElector>(transport, clock_,
                                          LeaseElectorOptions{.cluster = "zone-a",
                                                              .namespace_name = "kube-system",
                                                              .name = "propsy",
                                                              .identity = id});
  }
  std::string Holder() const {
    const std::string json = server_.Get(kLeasePath);
    if (json.empty()) return "<none>";
    rapidjson::Document lease;
    lease.Parse(json.c_str());
    return lease["spec"]["holderIdentity"].GetString();
  }
  std::string RenewTime() const {
    rapidjson::Document lease;
    lease.Parse(server_.Get(kLeasePath).c_str());
    return lease["spec"]["renewTime"].GetString();
  }
  // Lets `waiters` loops block again, then moves time on by `by`.
  void Step(size_t waiters, Clock::Duration by) {
    ASSERT_TRUE(clock_.AwaitWaiters(waiters));
    clock_.Advance(by);
    // The loops wake within a millisecond of real time and run their attempt.
    std::this_thread::sleep_for(30ms);
    ASSERT_TRUE(clock_.AwaitWaiters(waiters));
  }

  SimulatedClock clock_;
  testing::FakeApiServer server_;
};

TEST_F(LeaseElectorTest, TakesAFreeLeaseAndRenewsItEveryRetryPeriod) {
  CandidateTransport transport(server_);
  auto a = Candidate(transport, "a_1");
  a->Start();
  ASSERT_NO_FATAL_FAILURE(Step(1, 0s));
  EXPECT_TRUE(a->IsLeader());
  EXPECT_EQ(Holder(), "a_1");
  EXPECT_EQ(a->acquisitions(), 1u);
  const std::string first_renewal = RenewTime();
  ASSERT_NO_FATAL_FAILURE(Step(1, 2s));
  EXPECT_NE(RenewTime(), first_renewal);
  EXPECT_TRUE(a->IsLeader());
  a->Stop();
}

TEST_F(LeaseElectorTest, AFollowerWaitsWhileTheLeaderRenews) {
  CandidateTransport transport_a(server_);
  CandidateTransport transport_b(server_);
  auto a = Candidate(transport_a, "a_1");
  auto b = Candidate(transport_b, "b_2");
  a->Start();
  ASSERT_NO_FATAL_FAILURE(Step(1, 0s));
  b->Start();
  for (int i = 0; i < 20; ++i) {  // 40 s: well past a lease duration
    ASSERT_NO_FATAL_FAILURE(Step(2, 2s));
    ASSERT_TRUE(a->IsLeader()) << "after " << (i + 1) * 2 << " s";
    ASSERT_FALSE(b->IsLeader()) << "after " << (i + 1) * 2 << " s";
  }
  EXPECT_EQ(Holder(), "a_1");
  a->Stop();
  b->Stop();
}

// The leader loses its API server: it stops leading at the renew deadline
// (10 s), before the follower may take over at the lease duration (15 s
// after it last saw the lease change).
TEST_F(LeaseElectorTest, ALeaderCutOffStopsAtTheRenewDeadlineAndTheFollowerTakesOver) {
  CandidateTransport transport_a(server_);
  CandidateTransport transport_b(server_);
  auto a = Candidate(transport_a, "a_1");
  auto b = Candidate(transport_b, "b_2");
  a->Start();
  ASSERT_NO_FATAL_FAILURE(Step(1, 0s));
  b->Start();
  ASSERT_NO_FATAL_FAILURE(Step(2, 0s));
  transport_a.SetOutage(true);
  int a_stopped_at = -1;
  int b_started_at = -1;
  for (int second = 2; second <= 30; second += 2) {
    ASSERT_NO_FATAL_FAILURE(Step(2, 2s));
    if (a_stopped_at < 0 && !a->IsLeader()) a_stopped_at = second;
    if (b_started_at < 0 && b->IsLeader()) b_started_at = second;
    ASSERT_FALSE(a->IsLeader() && b->IsLeader()) << "two leaders at " << second << " s";
  }
  EXPECT_EQ(a_stopped_at, 10);
  EXPECT_GE(b_started_at, 16);
  EXPECT_LE(b_started_at, 18);
  EXPECT_EQ(Holder(), "b_2");
  transport_a.SetOutage(false);
  a->Stop();
  b->Stop();
}

TEST_F(LeaseElectorTest, StopReleasesTheLeaseSoTheFollowerTakesItAtItsNextTry) {
  CandidateTransport transport_a(server_);
  CandidateTransport transport_b(server_);
  auto a = Candidate(transport_a, "a_1");
  auto b = Candidate(transport_b, "b_2");
  a->Start();
  ASSERT_NO_FATAL_FAILURE(Step(1, 0s));
  b->Start();
  ASSERT_NO_FATAL_FAILURE(Step(2, 2s));
  a->Stop();
  EXPECT_FALSE(a->IsLeader());
  EXPECT_EQ(Holder(), "");
  ASSERT_NO_FATAL_FAILURE(Step(1, 2s));
  EXPECT_TRUE(b->IsLeader());
  EXPECT_EQ(Holder(), "b_2");
  b->Stop();
}

TEST(DefaultLeaseIdentity, IsThePodNameAndTheProcessId) {
  setenv("POD_NAME", "propsy-7d9f-abcde", 1);
  EXPECT_EQ(DefaultLeaseIdentity(), "propsy-7d9f-abcde_" + std::to_string(getpid()));
  unsetenv("POD_NAME");
  EXPECT_TRUE(DefaultLeaseIdentity().ends_with("_" + std::to_string(getpid())));
}

}  // namespace
}  // namespace propsy::status
