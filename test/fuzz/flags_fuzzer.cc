// libFuzzer target for the command line: the input, split on '\0' or '\n',
// is the argument list. Parsing must never crash, whatever it returns.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "main/flags.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    char c = static_cast<char>(data[i]);
    if (c == '\0' || c == '\n') {
      args.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) args.push_back(std::move(current));

  absl::StatusOr<propsy::CommandLine> parsed = propsy::ParseCommandLine(args);
  if (parsed.ok() && parsed->action == propsy::CommandLine::Action::kRun) {
    // Validated options keep their promises.
    for (const propsy::ConfigClusterFlag& cluster : parsed->options.config_clusters) {
      if (cluster.name.empty() || cluster.zone.empty()) __builtin_trap();
    }
    if (!propsy::ParseHostPort(parsed->options.listen).ok()) __builtin_trap();
  }
  for (const std::string& arg : args) {
    (void)propsy::ParseGoDuration(arg);
    (void)propsy::ParseHostPort(arg);
    (void)propsy::DeriveClusterName(arg);
  }
  return 0;
}
