#include "bench_scale.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "absl/synchronization/mutex.h"

namespace propsy::bench {
namespace {

constexpr std::string_view kScaleFlag = "--scale=";
constexpr char kScaleVariable[] = "PROPSY_BENCH_SCALE";

std::optional<Scale> ParseScale(std::string_view text) {
  if (text == "small") return Scale::kSmall;
  if (text == "default") return Scale::kDefault;
  return std::nullopt;
}

[[noreturn]] void FailOnScale(std::string_view origin, std::string_view text) {
  std::fprintf(stderr, "%.*s: unknown scale \"%.*s\" (want small or default)\n",
               static_cast<int>(origin.size()), origin.data(), static_cast<int>(text.size()),
               text.data());
  std::exit(2);
}

}  // namespace

const char* ScaleName(Scale scale) { return scale == Scale::kSmall ? "small" : "default"; }

Scale InitBenchmarks(int* argc, char** argv) {
  std::optional<Scale> scale;
  if (const char* from_env = std::getenv(kScaleVariable); from_env != nullptr && *from_env) {
    scale = ParseScale(from_env);
    if (!scale.has_value()) FailOnScale(kScaleVariable, from_env);
  }
  // The flag wins over the environment; it is removed so that Google
  // Benchmark does not reject it as unknown.
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with(kScaleFlag)) {
      const std::string_view value = arg.substr(kScaleFlag.size());
      scale = ParseScale(value);
      if (!scale.has_value()) FailOnScale("--scale", value);
      continue;
    }
    argv[kept++] = argv[i];
  }
  *argc = kept;
  argv[kept] = nullptr;

  // As the propsy binary does (src/main/main.cc): Debian's absl would walk
  // a lock graph on every lock, which the binary does not pay.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  benchmark::Initialize(argc, argv);
  if (benchmark::ReportUnrecognizedArguments(*argc, argv)) std::exit(2);
  const Scale chosen = scale.value_or(Scale::kDefault);
  benchmark::AddCustomContext("propsy_scale", ScaleName(chosen));
  return chosen;
}

int RunBenchmarks() {
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace propsy::bench
