#include "main/flag_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace propsy {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using ::testing::HasSubstr;

// A flag set with one flag of every kind, bound to the fixture's variables.
class FlagSetTest : public ::testing::Test {
 protected:
  FlagSetTest() {
    flags_.String("name", &name_, "a string");
    flags_.StringList("item", &items_, "a repeatable string");
    flags_.Bool("verbose", &verbose_, "a bool");
    flags_.Int("count", &count_, "an integer");
    flags_.Duration("timeout", &timeout_, "a duration");
  }

  absl::StatusOr<FlagSet::Outcome> Parse(const std::vector<std::string>& args) {
    return flags_.Parse(args);
  }

  std::string name_ = "default";
  std::vector<std::string> items_;
  bool verbose_ = false;
  int64_t count_ = 7;
  milliseconds timeout_{30000};
  FlagSet flags_{"prog"};
};

TEST_F(FlagSetTest, AcceptsAllFourFormsOfAValuedFlag) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"-name", "x"}, {"-name=x"}, {"--name", "x"}, {"--name=x"}}) {
    name_ = "default";
    ASSERT_TRUE(Parse(args).ok()) << args[0];
    EXPECT_EQ(name_, "x") << args[0];
  }
}

TEST_F(FlagSetTest, ValueMayContainEqualsAndStartWithDash) {
  ASSERT_TRUE(Parse({"-name=a=b"}).ok());
  EXPECT_EQ(name_, "a=b");
  ASSERT_TRUE(Parse({"-name", "-x"}).ok());
  EXPECT_EQ(name_, "-x");
  ASSERT_TRUE(Parse({"-name="}).ok());
  EXPECT_EQ(name_, "");
}

TEST_F(FlagSetTest, LastValueOfASingleFlagWins) {
  ASSERT_TRUE(Parse({"-name", "a", "-name", "b"}).ok());
  EXPECT_EQ(name_, "b");
}

TEST_F(FlagSetTest, BoolFlagTakesNoSeparateValue) {
  ASSERT_TRUE(Parse({"-verbose"}).ok());
  EXPECT_TRUE(verbose_);
  ASSERT_TRUE(Parse({"--verbose=false"}).ok());
  EXPECT_FALSE(verbose_);
  ASSERT_TRUE(Parse({"-verbose=T"}).ok());
  EXPECT_TRUE(verbose_);
  ASSERT_TRUE(Parse({"-verbose=0"}).ok());
  EXPECT_FALSE(verbose_);
  // "true" after a bool flag is a positional argument, as in Go.
  absl::StatusOr<FlagSet::Outcome> outcome = Parse({"-verbose", "true"});
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(std::string(outcome.status().message()), HasSubstr("unexpected argument \"true\""));
}

TEST_F(FlagSetTest, BadBoolValueNamesTheFlag) {
  absl::StatusOr<FlagSet::Outcome> outcome = Parse({"-verbose=yes"});
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(std::string(outcome.status().message()),
              HasSubstr("invalid value \"yes\" for flag -verbose: "));
}

TEST_F(FlagSetTest, RepeatableFlagCollectsEveryValueInOrder) {
  ASSERT_TRUE(Parse({"-item", "a", "--item=b", "-name", "n", "-item", "c"}).ok());
  EXPECT_EQ(items_, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(FlagSetTest, Integers) {
  ASSERT_TRUE(Parse({"-count", "-12"}).ok());
  EXPECT_EQ(count_, -12);
  ASSERT_TRUE(Parse({"-count=9000000000"}).ok());
  EXPECT_EQ(count_, 9000000000);
  absl::StatusOr<FlagSet::Outcome> outcome = Parse({"-count", "12x"});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().message(), "invalid value \"12x\" for flag -count: not an integer");
  outcome = Parse({"-count=99999999999999999999"});
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(std::string(outcome.status().message()), HasSubstr("flag -count: out of range"));
}

TEST_F(FlagSetTest, DurationFlag) {
  ASSERT_TRUE(Parse({"-timeout", "1m30s"}).ok());
  EXPECT_EQ(timeout_, milliseconds(90000));
  absl::StatusOr<FlagSet::Outcome> outcome = Parse({"-timeout", "abc"});
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(std::string(outcome.status().message()),
              HasSubstr("invalid value \"abc\" for flag -timeout: "));
}

TEST_F(FlagSetTest, UnknownFlagIsAnError) {
  absl::StatusOr<FlagSet::Outcome> outcome = Parse({"-x"});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().message(), "flag provided but not defined: -x");
  outcome = Parse({"--nope=1"});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().message(), "flag provided but not defined: -nope");
}

TEST_F(FlagSetTest, MissingValueNamesTheFlag) {
  absl::StatusOr<FlagSet::Outcome> outcome = Parse({"-name"});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().message(), "flag needs an argument: -name");
}

TEST_F(FlagSetTest, PositionalArgumentsAreErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"extra"}, {"-name", "a", "extra"}, {"-"}, {"--", "after"}}) {
    absl::StatusOr<FlagSet::Outcome> outcome = Parse(args);
    ASSERT_FALSE(outcome.ok()) << args.back();
    EXPECT_THAT(std::string(outcome.status().message()), HasSubstr("unexpected argument"));
  }
}

TEST_F(FlagSetTest, DoubleDashEndsFlags) {
  absl::StatusOr<FlagSet::Outcome> outcome = Parse({"-name", "a", "--"});
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, FlagSet::Outcome::kParsed);
  EXPECT_EQ(name_, "a");
}

TEST_F(FlagSetTest, BadSyntax) {
  for (const std::string arg : {"---name", "-=x", "--=x"}) {
    absl::StatusOr<FlagSet::Outcome> outcome = Parse({arg});
    ASSERT_FALSE(outcome.ok()) << arg;
    EXPECT_EQ(outcome.status().message(), "bad flag syntax: " + arg);
  }
}

TEST_F(FlagSetTest, HelpAndVersion) {
  for (const std::string arg : {"-h", "-help", "--help", "--h"}) {
    absl::StatusOr<FlagSet::Outcome> outcome = Parse({arg});
    ASSERT_TRUE(outcome.ok()) << arg;
    EXPECT_EQ(*outcome, FlagSet::Outcome::kHelp) << arg;
  }
  absl::StatusOr<FlagSet::Outcome> outcome = Parse({"-name", "a", "--version"});
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, FlagSet::Outcome::kVersion);
}

TEST_F(FlagSetTest, UsageListsEveryFlagWithItsDefault) {
  std::string usage = flags_.Usage();
  EXPECT_THAT(usage, HasSubstr("Usage of prog:"));
  EXPECT_THAT(usage, HasSubstr("-name string\n        a string (default \"default\")"));
  EXPECT_THAT(usage, HasSubstr("-item value\n        a repeatable string\n"));
  EXPECT_THAT(usage, HasSubstr("-verbose\n        a bool (default false)"));
  EXPECT_THAT(usage, HasSubstr("-count int\n        an integer (default 7)"));
  EXPECT_THAT(usage, HasSubstr("-timeout duration\n        a duration (default 30s)"));
  // Sorted by name.
  EXPECT_LT(usage.find("-count"), usage.find("-item"));
  EXPECT_LT(usage.find("-name"), usage.find("-timeout"));
}

TEST(GoDurationTest, ParsesGoSyntax) {
  struct Case {
    std::string text;
    nanoseconds want;
  };
  using namespace std::chrono_literals;
  for (const Case& c : std::vector<Case>{
           {"0", 0ns},
           {"300ms", 300ms},
           {"30s", 30s},
           {"1m30s", 90s},
           {"2h", 2h},
           {"1.5h", 90min},
           {".5s", 500ms},
           {"1.s", 1s},
           {"-2s", -2s},
           {"+3ms", 3ms},
           {"10us", 10us},
           {"10\xC2\xB5s", 10us},
           {"7ns", 7ns},
           {"1h2m3s4ms", 1h + 2min + 3s + 4ms},
       }) {
    absl::StatusOr<nanoseconds> parsed = ParseGoDuration(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.status();
    EXPECT_EQ(*parsed, c.want) << c.text;
  }
}

TEST(GoDurationTest, RejectsMalformed) {
  for (const std::string text :
       {"", "abc", "10", "1x", "s", ".s", "1.2.3s", "-", "3 s", "9999999999999h"}) {
    EXPECT_FALSE(ParseGoDuration(text).ok()) << text;
  }
  EXPECT_THAT(std::string(ParseGoDuration("10").status().message()), HasSubstr("missing unit"));
  EXPECT_THAT(std::string(ParseGoDuration("10d").status().message()),
              HasSubstr("unknown unit \"d\""));
}

TEST(GoDurationTest, FormatsLikeGo) {
  EXPECT_EQ(FormatGoDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatGoDuration(milliseconds(300)), "300ms");
  EXPECT_EQ(FormatGoDuration(milliseconds(30000)), "30s");
  EXPECT_EQ(FormatGoDuration(milliseconds(90000)), "1m30s");
  EXPECT_EQ(FormatGoDuration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatGoDuration(milliseconds(7200000)), "2h0m0s");
  EXPECT_EQ(FormatGoDuration(milliseconds(-2000)), "-2s");
  // Round trip.
  for (int64_t ms : {1, 999, 1001, 61001, 3600000 + 1}) {
    absl::StatusOr<nanoseconds> parsed = ParseGoDuration(FormatGoDuration(milliseconds(ms)));
    ASSERT_TRUE(parsed.ok()) << ms;
    EXPECT_EQ(std::chrono::duration_cast<milliseconds>(*parsed).count(), ms);
  }
}

}  // namespace
}  // namespace propsy
