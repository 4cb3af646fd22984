#pragma once

namespace propsy::bench {

// How big the benchmark inputs are. kDefault is the scale; kSmall is
// the smoke configuration CI runs (seconds, not minutes).
enum class Scale { kSmall, kDefault };

const char* ScaleName(Scale scale);

// Reads the scale from `--scale=small|default` (removed from argv) or, when
// the flag is absent, the PROPSY_BENCH_SCALE environment variable; default
// kDefault. Then hands the remaining arguments to Google Benchmark. Bad
// input (an unknown scale, an argument neither understands) prints what is
// wrong and exits with status 2.
Scale InitBenchmarks(int* argc, char** argv);

// Runs the registered benchmarks that match --benchmark_filter; returns the
// process exit status.
int RunBenchmarks();

}  // namespace propsy::bench
