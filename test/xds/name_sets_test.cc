#include "xds/name_sets.h"

#include <gtest/gtest.h>

namespace propsy::xds {
namespace {

TEST(NameSetInternerTest, EqualSetsAreOneObjectOthersAreNot) {
  NameSetInterner interner;
  SharedNameSet a = interner.Intern({"c1", "c2"});
  SharedNameSet b = interner.Intern({"c2", "c1"});
  SharedNameSet c = interner.Intern({"c1"});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(*c, NameSet{"c1"});
}

TEST(NameSetInternerTest, ASetNobodyHoldsIsMadeAgain) {
  NameSetInterner interner;
  std::weak_ptr<const NameSet> gone = interner.Intern({"c1"});
  EXPECT_TRUE(gone.expired());
  SharedNameSet again = interner.Intern({"c1"});
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(*again, NameSet{"c1"});
  for (int i = 0; i < 100; ++i) interner.Intern({std::to_string(i)});  // sweeps
  EXPECT_EQ(interner.Intern({"c1"}), again);
}

}  // namespace
}  // namespace propsy::xds
