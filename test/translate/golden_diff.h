#pragma once

#include <string>

namespace propsy::translate::test {

// A line diff of two texts: unchanged lines near a change prefixed "  ",
// removed "- ", added "+ ", far unchanged runs elided as "...". Meant for
// golden-file failure messages, not for patching.
std::string UnifiedDiff(const std::string& expected, const std::string& actual);

}  // namespace propsy::translate::test
