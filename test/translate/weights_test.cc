#include "translate/weights.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace propsy::translate {
namespace {

WeightedClusterShare Primary(uint32_t weight) {
  return {.role = ShareRole::kPrimary, .remote_index = 0, .weight = weight};
}
WeightedClusterShare Remote(size_t index, uint32_t weight) {
  return {.role = ShareRole::kRemote, .remote_index = index, .weight = weight};
}
WeightedClusterShare Canary(uint32_t weight) {
  return {.role = ShareRole::kCanary, .remote_index = 0, .weight = weight};
}

struct ShareCase {
  std::string name;
  ShareInputs inputs;
  std::vector<WeightedClusterShare> expected;
};

void PrintTo(const ShareCase& c, std::ostream* os) { *os << c.name; }

class ComputeSharesTest : public testing::TestWithParam<ShareCase> {};

TEST_P(ComputeSharesTest, GivesTheTableWeights) {
  EXPECT_EQ(ComputeShares(GetParam().inputs), GetParam().expected);
}

ShareInputs Local(uint32_t percent, uint32_t canary_percent, size_t k, bool canary) {
  return {.local_definition = true,
          .percent = percent,
          .canary_percent = canary_percent,
          .remote_count = k,
          .canary_available = canary};
}

INSTANTIATE_TEST_SUITE_P(
    Table, ComputeSharesTest,
    testing::Values(
        // The seed's example: local 30, canary 5, foreign 70 out of 105.
        ShareCase{"SeedExample", Local(30, 5, 1, true), {Primary(30), Remote(0, 70), Canary(5)}},
        ShareCase{
            "NoRemoteKeepsTheRemainderLocal", Local(30, 5, 0, true), {Primary(100), Canary(5)}},
        ShareCase{"TwoRemotesScalePrimaryAndCanary",
                  Local(30, 5, 2, true),
                  {Primary(60), Remote(0, 70), Remote(1, 70), Canary(10)}},
        ShareCase{"PercentZeroDropsThePrimary", Local(0, 0, 1, false), {Remote(0, 100)}},
        ShareCase{"PercentZeroTwoRemotes", Local(0, 0, 2, false), {Remote(0, 100), Remote(1, 100)}},
        ShareCase{"PercentZeroWithoutRemotesStaysLocal", Local(0, 0, 0, false), {Primary(100)}},
        ShareCase{"PercentHundredDropsRemotes", Local(100, 0, 2, false), {Primary(200)}},
        ShareCase{"PercentHundredWithCanary", Local(100, 20, 1, true), {Primary(100), Canary(20)}},
        ShareCase{"CanaryWithoutEndpointsIsLeftOut",
                  Local(30, 5, 1, false),
                  {Primary(30), Remote(0, 70)}},
        ShareCase{
            "CanaryPercentZeroIsLeftOut", Local(30, 0, 1, true), {Primary(30), Remote(0, 70)}},
        ShareCase{"ForeignDefinitionIgnoresPercentAndCanary",
                  {.local_definition = false,
                   .percent = 30,
                   .canary_percent = 5,
                   .remote_count = 2,
                   .canary_available = true},
                  {Primary(100)}}),
    [](const testing::TestParamInfo<ShareCase>& info) { return info.param.name; });

// For every percent and k >= 1, the primary keeps exactly `percent` of what
// does not go to the canary, and every remote gets the same share.
TEST(ComputeShares, PrimaryKeepsPercentOfNonCanaryTraffic) {
  for (uint32_t percent = 0; percent <= 100; ++percent) {
    for (size_t k = 1; k <= 4; ++k) {
      uint32_t primary = 0;
      uint32_t remote_total = 0;
      for (const WeightedClusterShare& share : ComputeShares(Local(percent, 7, k, true))) {
        ASSERT_GT(share.weight, 0u);
        if (share.role == ShareRole::kPrimary) primary = share.weight;
        if (share.role == ShareRole::kRemote) {
          EXPECT_EQ(share.weight, 100 - percent);
          remote_total += share.weight;
        }
      }
      EXPECT_EQ(primary * 100, percent * (primary + remote_total))
          << "percent " << percent << " k " << k;
    }
  }
}

}  // namespace
}  // namespace propsy::translate
