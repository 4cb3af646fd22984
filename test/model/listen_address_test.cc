#include "model/listen_address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace propsy::model {
namespace {

using ::testing::HasSubstr;

struct GoodCase {
  std::string text;
  std::string canonical;
  bool ipv6;
};

class ListenAddressGoodTest : public ::testing::TestWithParam<GoodCase> {};

TEST_P(ListenAddressGoodTest, ParsesToCanonicalText) {
  const GoodCase& c = GetParam();
  absl::StatusOr<ListenAddress> address = ParseListenAddress(c.text);
  ASSERT_TRUE(address.ok()) << c.text << ": " << address.status();
  EXPECT_EQ(address->ToString(), c.canonical);
  EXPECT_EQ(address->IsIpv6(), c.ipv6);
  // The canonical text parses back to the same address.
  absl::StatusOr<ListenAddress> again = ParseListenAddress(address->ToString());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *address);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ListenAddressGoodTest,
    ::testing::Values(GoodCase{"80", "0.0.0.0:80", false}, GoodCase{"0:80", "0.0.0.0:80", false},
                      GoodCase{":8080", "0.0.0.0:8080", false},
                      GoodCase{"127.0.0.1:443", "127.0.0.1:443", false},
                      GoodCase{"10.1.2.3:65535", "10.1.2.3:65535", false},
                      GoodCase{"1", "0.0.0.0:1", false}, GoodCase{"[::1]:443", "[::1]:443", true},
                      GoodCase{"[::]:80", "[::]:80", true},
                      GoodCase{"[2001:DB8:0:0::1]:80", "[2001:db8::1]:80", true},
                      GoodCase{"[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.1]:80", true}));

struct BadCase {
  std::string text;
  std::string error;
};

class ListenAddressBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ListenAddressBadTest, IsRejectedWithReason) {
  const BadCase& c = GetParam();
  absl::StatusOr<ListenAddress> address = ParseListenAddress(c.text);
  ASSERT_FALSE(address.ok()) << c.text << " parsed as " << address->ToString();
  EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(address.status().message()), HasSubstr(c.error)) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    Rejections, ListenAddressBadTest,
    ::testing::Values(BadCase{"", "empty"}, BadCase{"0", "port must be a number"},
                      BadCase{"65536", "port must be a number between 1 and 65535"},
                      BadCase{"-1", "port must be"}, BadCase{"+80", "port must be"},
                      BadCase{"80 ", "port must be"}, BadCase{"1.2.3.4:", "port must be"},
                      BadCase{"1.2.3.4:http", "port must be"},
                      BadCase{"localhost:80", "host must be an IP address"},
                      BadCase{"1.2.3:80", "host must be an IP address"},
                      BadCase{"256.1.1.1:80", "host must be an IP address"},
                      BadCase{"::1:80", "IPv6 addresses need brackets"},
                      BadCase{"[::1]", "missing :PORT"}, BadCase{"[::1]80", "missing :PORT"},
                      BadCase{"[::1:80", "missing ']'"},
                      BadCase{"[10.0.0.1]:80", "not an IPv6 address"},
                      BadCase{"[fe80::1%eth0]:80", "not an IPv6 address"},
                      BadCase{"[]:80", "not an IPv6 address"},
                      BadCase{"99999999999999999999", "port must be"}));

TEST(ListenAddressTest, EmbeddedNulIsNotCutShort) {
  const std::string text("1.2.3.4\0:80", 11);
  EXPECT_FALSE(ParseListenAddress(text).ok());
}

}  // namespace
}  // namespace propsy::model
