#include "main/flag_set.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <set>

namespace propsy {
namespace {

constexpr std::string_view kDurationHint = "want a duration like 300ms, 30s, 1m30s, 2h";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

absl::StatusOr<int64_t> ParseInt(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  if (ec == std::errc::result_out_of_range) return absl::InvalidArgumentError("out of range");
  if (ec != std::errc() || ptr != end || digits.empty()) {
    return absl::InvalidArgumentError("not an integer");
  }
  return value;
}

std::string Quote(std::string_view text) { return fmt::format("\"{}\"", text); }

// Nanoseconds per duration unit, as Go's time package names them.
int64_t UnitNanos(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1'000;
  if (unit == "ms") return 1'000'000;
  if (unit == "s") return 1'000'000'000;
  if (unit == "m") return 60'000'000'000;
  if (unit == "h") return 3'600'000'000'000;
  return 0;
}

}  // namespace

absl::StatusOr<bool> ParseBool(std::string_view text) {
  static const std::set<std::string_view> kTrue = {"1", "t", "T", "true", "TRUE", "True"};
  static const std::set<std::string_view> kFalse = {"0", "f", "F", "false", "FALSE", "False"};
  if (kTrue.contains(text)) return true;
  if (kFalse.contains(text)) return false;
  return absl::InvalidArgumentError("not a boolean (want true or false)");
}

absl::StatusOr<std::chrono::nanoseconds> ParseGoDuration(std::string_view text) {
  std::string_view rest = text;
  bool negative = false;
  if (!rest.empty() && (rest.front() == '-' || rest.front() == '+')) {
    negative = rest.front() == '-';
    rest.remove_prefix(1);
  }
  if (rest == "0") return std::chrono::nanoseconds(0);
  if (rest.empty()) return absl::InvalidArgumentError(std::string(kDurationHint));

  // Accumulated in long double: exact for every value that fits int64 ns
  // closely enough, and overflow is checked against the int64 range.
  long double total = 0;
  while (!rest.empty()) {
    size_t i = 0;
    while (i < rest.size() && IsDigit(rest[i])) ++i;
    std::string_view whole = rest.substr(0, i);
    std::string_view fraction;
    if (i < rest.size() && rest[i] == '.') {
      size_t start = ++i;
      while (i < rest.size() && IsDigit(rest[i])) ++i;
      fraction = rest.substr(start, i - start);
    }
    if (whole.empty() && fraction.empty()) {
      return absl::InvalidArgumentError(std::string(kDurationHint));
    }
    size_t unit_start = i;
    while (i < rest.size() && rest[i] != '.' && !IsDigit(rest[i])) ++i;
    std::string_view unit = rest.substr(unit_start, i - unit_start);
    if (unit.empty()) {
      return absl::InvalidArgumentError("missing unit (ns, us, ms, s, m or h)");
    }
    int64_t unit_nanos = UnitNanos(unit);
    if (unit_nanos == 0) {
      return absl::InvalidArgumentError(
          fmt::format("unknown unit \"{}\" (want ns, us, ms, s, m or h)", unit));
    }
    long double number = 0;
    for (char c : whole) number = number * 10 + (c - '0');
    long double scale = 1;
    for (char c : fraction) {
      scale /= 10;
      number += scale * (c - '0');
    }
    total += number * static_cast<long double>(unit_nanos);
    if (total > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError("duration out of range");
    }
    rest.remove_prefix(i);
  }
  auto nanos = static_cast<int64_t>(std::llroundl(total));
  return std::chrono::nanoseconds(negative ? -nanos : nanos);
}

std::string FormatGoDuration(std::chrono::milliseconds duration) {
  int64_t ms = duration.count();
  if (ms == 0) return "0s";
  std::string sign = ms < 0 ? "-" : "";
  uint64_t abs_ms = ms < 0 ? -static_cast<uint64_t>(ms) : static_cast<uint64_t>(ms);
  if (abs_ms < 1000) return fmt::format("{}{}ms", sign, abs_ms);
  uint64_t hours = abs_ms / 3'600'000;
  uint64_t minutes = abs_ms / 60'000 % 60;
  uint64_t seconds = abs_ms / 1000 % 60;
  uint64_t millis = abs_ms % 1000;
  std::string secs = fmt::format("{}", seconds);
  if (millis != 0) {
    std::string frac = fmt::format("{:03}", millis);
    while (frac.back() == '0') frac.pop_back();
    secs += "." + frac;
  }
  if (hours > 0) return fmt::format("{}{}h{}m{}s", sign, hours, minutes, secs);
  if (minutes > 0) return fmt::format("{}{}m{}s", sign, minutes, secs);
  return fmt::format("{}{}s", sign, secs);
}

// ----- FlagSet -----

void FlagSet::Custom(std::string name, std::string value_name, std::string default_text,
                     std::string usage, bool is_bool, Setter set) {
  flags_[std::move(name)] = Flag{
      .value_name = std::move(value_name),
      .default_text = std::move(default_text),
      .usage = std::move(usage),
      .is_bool = is_bool,
      .set = std::move(set),
  };
}

void FlagSet::String(std::string name, std::string* target, std::string usage) {
  Custom(std::move(name), "string", target->empty() ? "" : Quote(*target), std::move(usage), false,
         [target](std::string_view value) {
           *target = std::string(value);
           return absl::OkStatus();
         });
}

void FlagSet::StringList(std::string name, std::vector<std::string>* target, std::string usage) {
  Custom(std::move(name), "value", "", std::move(usage), false, [target](std::string_view value) {
    target->emplace_back(value);
    return absl::OkStatus();
  });
}

void FlagSet::Bool(std::string name, bool* target, std::string usage) {
  Custom(std::move(name), "", *target ? "true" : "false", std::move(usage), true,
         [target](std::string_view value) -> absl::Status {
           absl::StatusOr<bool> parsed = ParseBool(value);
           if (!parsed.ok()) return parsed.status();
           *target = *parsed;
           return absl::OkStatus();
         });
}

void FlagSet::Int(std::string name, int64_t* target, std::string usage) {
  Custom(std::move(name), "int", fmt::format("{}", *target), std::move(usage), false,
         [target](std::string_view value) -> absl::Status {
           absl::StatusOr<int64_t> parsed = ParseInt(value);
           if (!parsed.ok()) return parsed.status();
           *target = *parsed;
           return absl::OkStatus();
         });
}

void FlagSet::Duration(std::string name, std::chrono::milliseconds* target, std::string usage) {
  Custom(std::move(name), "duration", FormatGoDuration(*target), std::move(usage), false,
         [target](std::string_view value) -> absl::Status {
           absl::StatusOr<std::chrono::nanoseconds> parsed = ParseGoDuration(value);
           if (!parsed.ok()) return parsed.status();
           *target = std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);
           return absl::OkStatus();
         });
}

absl::Status FlagSet::SetFlag(const std::string& name, const Flag& flag,
                              std::string_view value) const {
  absl::Status status = flag.set(value);
  if (status.ok()) return status;
  return absl::InvalidArgumentError(fmt::format("invalid value {} for flag -{}: {}", Quote(value),
                                                name, std::string(status.message())));
}

absl::StatusOr<FlagSet::Outcome> FlagSet::Parse(const std::vector<std::string>& args) {
  size_t i = 0;
  while (i < args.size()) {
    const std::string& arg = args[i++];
    if (arg == "--") {
      if (i < args.size()) {
        return absl::InvalidArgumentError(
            fmt::format("unexpected argument {}: {} takes only flags", Quote(args[i]), program_));
      }
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      return absl::InvalidArgumentError(
          fmt::format("unexpected argument {}: {} takes only flags", Quote(arg), program_));
    }
    std::string_view name = arg;
    name.remove_prefix(arg[1] == '-' ? 2 : 1);
    if (name.empty() || name.front() == '-' || name.front() == '=') {
      return absl::InvalidArgumentError(fmt::format("bad flag syntax: {}", arg));
    }
    std::optional<std::string_view> value;
    if (size_t eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto it = flags_.find(std::string(name));
    if (it == flags_.end()) {
      if (name == "help" || name == "h") return Outcome::kHelp;
      if (name == "version") return Outcome::kVersion;
      return absl::InvalidArgumentError(fmt::format("flag provided but not defined: -{}", name));
    }
    const Flag& flag = it->second;
    if (!value.has_value()) {
      if (flag.is_bool) {
        value = "true";
      } else if (i < args.size()) {
        value = args[i++];
      } else {
        return absl::InvalidArgumentError(fmt::format("flag needs an argument: -{}", name));
      }
    }
    if (absl::Status status = SetFlag(it->first, flag, *value); !status.ok()) return status;
  }
  return Outcome::kParsed;
}

std::string FlagSet::Usage() const {
  std::string out = fmt::format("Usage of {}:\n", program_);
  for (const auto& [name, flag] : flags_) {
    out += fmt::format("  -{}{}{}\n", name, flag.value_name.empty() ? "" : " ", flag.value_name);
    std::string usage = flag.usage;
    if (!flag.default_text.empty()) usage += fmt::format(" (default {})", flag.default_text);
    size_t start = 0;
    while (start <= usage.size()) {
      size_t end = usage.find('\n', start);
      if (end == std::string::npos) end = usage.size();
      out += fmt::format("        {}\n", usage.substr(start, end - start));
      start = end + 1;
    }
  }
  return out;
}

}  // namespace propsy
