#include "translate/golden_diff.h"

#include <gtest/gtest.h>

namespace propsy::translate::test {
namespace {

TEST(UnifiedDiff, ShowsChangedLinesWithContext) {
  const std::string expected = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
  const std::string actual = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
  EXPECT_EQ(UnifiedDiff(expected, actual),
            "...\n  b\n  c\n  d\n- e\n+ E\n  f\n  g\n  h\n  i\n+ j\n");
}

TEST(UnifiedDiff, EqualTextsGiveOnlyAnElision) {
  EXPECT_EQ(UnifiedDiff("x\ny\n", "x\ny\n"), "...\n");
}

}  // namespace
}  // namespace propsy::translate::test
