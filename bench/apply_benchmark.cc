// Apply throughput (bytes of output per second) for each patch method, on
// synthetic release-like data: 8 MiB of code-like bytes, edited and relinked
// (pointer-like values shifted). Complements bench/run_corpus.sh, whose
// whole-command times include process start and file I/O.
// Usage: bazel run -c opt //bench:apply_benchmark
#include <cstdint>
#include <random>
#include <string>

#include "benchmark/benchmark.h"
#include "common/byte_io.h"
#include "core/delta/apply.h"
#include "core/delta/diff.h"

namespace patchfarm {
namespace {

struct Pair {
  std::string old_data, new_data;
};

const Pair& ReleasePair() {
  static const Pair* pair = [] {
    auto* p = new Pair;
    std::mt19937_64 rng(1);
    std::string fragments[64];
    for (auto& f : fragments) {
      f.resize(4 + rng() % 60);
      for (char& c : f) c = static_cast<char>(rng());
    }
    while (p->old_data.size() < (8u << 20)) p->old_data += fragments[rng() % 64];
    p->new_data = p->old_data;
    for (size_t i = 0; i + 4 <= p->new_data.size(); i += 24 + rng() % 40) {
      p->new_data[i] = static_cast<char>(p->new_data[i] + 0x30);
    }
    p->new_data.insert(p->new_data.size() / 3, std::string(5000, 'x'));
    return p;
  }();
  return *pair;
}

void BM_Apply(benchmark::State& state, bool fast_apply) {
  const Pair& pair = ReleasePair();
  DiffOptions options;
  options.fast_apply = fast_apply;
  options.try_zstd_prefix = false;
  std::string patch = *Diff(pair.old_data, pair.new_data, options);
  StringSource source(patch);
  std::string out;
  out.reserve(pair.new_data.size());
  for (auto _ : state) {
    out.clear();
    StringSink sink(&out);
    if (!Apply(pair.old_data, source, &sink).ok()) state.SkipWithError("apply failed");
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * pair.new_data.size());
  state.counters["patch_bytes"] = patch.size();
}

BENCHMARK_CAPTURE(BM_Apply, modeled_streams, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Apply, streams_fast_apply, true)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace patchfarm

BENCHMARK_MAIN();
