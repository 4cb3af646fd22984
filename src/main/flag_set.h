#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace propsy {

// ---------------------------------------------------------------------------
// A small Go-style command-line flag parser.
//
// Accepted forms: `-name value`, `-name=value`, `--name value`,
// `--name=value`. Bool flags take no separate value (`-debug`) but accept
// `-debug=true|false` (also 1/0, t/f, TRUE/FALSE, True/False). `--` ends the
// flags. Positional arguments are not accepted. Every error names the flag:
//   flag provided but not defined: -x
//   flag needs an argument: -listen
//   invalid value "abc" for flag -synctimeout: ...
// -help/-h and -version are recognised unless a flag of that name exists.
// ---------------------------------------------------------------------------

// Parses a Go duration: a sequence of decimal numbers with optional fraction
// and a unit each ("300ms", "1.5h", "1m30s", "-2s"); units ns, us (or µs),
// ms, s, m, h. "0" needs no unit.
absl::StatusOr<std::chrono::nanoseconds> ParseGoDuration(std::string_view text);

// Go's strconv.ParseBool: 1, t, T, true, TRUE, True and their false forms.
absl::StatusOr<bool> ParseBool(std::string_view text);

// Go's time.Duration.String() for whole milliseconds ("30s", "1m30s", "300ms").
std::string FormatGoDuration(std::chrono::milliseconds duration);

class FlagSet {
 public:
  // What Parse found besides ordinary flags.
  enum class Outcome { kParsed, kHelp, kVersion };
  // Sets a flag from its text; the error message becomes the reason in
  // `invalid value "..." for flag -name: <reason>`.
  using Setter = std::function<absl::Status(std::string_view value)>;

  explicit FlagSet(std::string program) : program_(std::move(program)) {}
  FlagSet(const FlagSet&) = delete;
  FlagSet& operator=(const FlagSet&) = delete;

  // Each definition binds a flag to a variable the caller owns and that must
  // outlive Parse. The variable's value when defined is the default shown in
  // the usage text. Names are unique; defining one twice replaces it.
  void String(std::string name, std::string* target, std::string usage);
  void StringList(std::string name, std::vector<std::string>* target, std::string usage);
  void Bool(std::string name, bool* target, std::string usage);
  void Int(std::string name, int64_t* target, std::string usage);
  void Duration(std::string name, std::chrono::milliseconds* target, std::string usage);
  // A flag of any type: `value_name` is shown in the usage text ("SRC:ZONE"),
  // `default_text` too when not empty. Repeatable flags call `set` once per
  // occurrence; bool flags get "true" when given without a value.
  void Custom(std::string name, std::string value_name, std::string default_text, std::string usage,
              bool is_bool, Setter set);

  // Parses the arguments after the program name.
  absl::StatusOr<Outcome> Parse(const std::vector<std::string>& args);

  // Every flag, sorted by name, with its meaning and default.
  std::string Usage() const;

 private:
  struct Flag {
    std::string value_name;
    std::string default_text;
    std::string usage;
    bool is_bool = false;
    Setter set;
  };

  absl::Status SetFlag(const std::string& name, const Flag& flag, std::string_view value) const;

  std::string program_;
  std::map<std::string, Flag> flags_;
};

}  // namespace propsy
