#include "translate/golden_diff.h"

#include <algorithm>
#include <sstream>
#include <vector>

namespace propsy::translate::test {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

constexpr size_t kContext = 3;

}  // namespace

std::string UnifiedDiff(const std::string& expected, const std::string& actual) {
  const std::vector<std::string> a = Lines(expected);
  const std::vector<std::string> b = Lines(actual);
  // Longest common subsequence table; golden files are small.
  std::vector<std::vector<size_t>> lcs(a.size() + 1, std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  struct Line {
    char tag;
    const std::string* text;
  };
  std::vector<Line> script;
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      script.push_back({' ', &a[i++]});
      ++j;
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      script.push_back({'-', &a[i++]});  // removals before additions, as diff -u
    } else {
      script.push_back({'+', &b[j++]});
    }
  }
  // Keep changes and kContext lines around them.
  std::vector<bool> keep(script.size(), false);
  for (size_t k = 0; k < script.size(); ++k) {
    if (script[k].tag == ' ') continue;
    const size_t from = k >= kContext ? k - kContext : 0;
    for (size_t m = from; m < script.size() && m <= k + kContext; ++m) keep[m] = true;
  }
  std::string out;
  bool elided = false;
  for (size_t k = 0; k < script.size(); ++k) {
    if (!keep[k]) {
      if (!elided) out += "...\n";
      elided = true;
      continue;
    }
    elided = false;
    out += script[k].tag;
    out += ' ';
    out += *script[k].text;
    out += '\n';
  }
  return out;
}

}  // namespace propsy::translate::test
