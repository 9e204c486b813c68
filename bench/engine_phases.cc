// Times each phase of Diff on one pair of files (suffix sort, matching, diff
// model, zstd of the diff stream for comparison) and prints the stream sizes:
// where the time and the bytes of a patch go.
// Usage: bazel run //bench:engine_phases -- OLD NEW
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/file.h"
#include "core/delta/diff_model.h"
#include "core/delta/matcher.h"
#include "core/delta/suffix_index.h"
#include "core/delta/zstd_codec.h"

namespace patchfarm {
namespace {

int Run(const std::string& old_path, const std::string& new_path) {
  auto old_file = MappedFile::Open(old_path);
  auto new_file = MappedFile::Open(new_path);
  if (!old_file.ok() || !new_file.ok()) {
    std::fprintf(stderr, "cannot open inputs\n");
    return 1;
  }
  absl::string_view old_data = (*old_file)->data(), new_data = (*new_file)->data();
  auto start = std::chrono::steady_clock::now();
  auto lap = [&](const char* phase) {
    auto now = std::chrono::steady_clock::now();
    std::printf("%-22s %8.3f s\n", phase, std::chrono::duration<double>(now - start).count());
    start = now;
  };
  absl::StatusOr<SuffixIndex> index = SuffixIndex::Build(old_data);
  if (!index.ok()) return 1;
  lap("suffix sort");
  std::vector<DeltaOp> ops = MatchAll(old_data, new_data, *index, MatchOptions());
  lap("matching (2 threads)");
  std::string diff, extra;
  for (const DeltaOp& op : ops) {
    for (int64_t i = 0; i < op.diff_len; ++i) {
      diff.push_back(static_cast<char>(new_data[op.new_pos + i] - old_data[op.old_pos + i]));
    }
    extra.append(new_data.data() + op.new_pos + op.diff_len, op.extra_len);
  }
  lap("diff bytes");
  DiffModelEncoder encoder(FixedModelBits(PatchMethod::kModeledStreams), diff.size());
  const auto* diff_at = reinterpret_cast<const uint8_t*>(diff.data());
  for (const DeltaOp& op : ops) {
    encoder.Encode(reinterpret_cast<const uint8_t*>(old_data.data()) + op.old_pos, diff_at,
                   op.diff_len);
    diff_at += op.diff_len;
  }
  size_t modeled = encoder.Finish().size();
  lap("diff model");
  absl::StatusOr<std::string> zstd_diff = ZstdCompress(diff, ZstdOptions());
  lap("zstd -19 of diff");
  absl::StatusOr<std::string> zstd_extra = ZstdCompress(extra, ZstdOptions());
  lap("zstd -19 of extra");
  if (!zstd_diff.ok() || !zstd_extra.ok()) return 1;
  std::printf("ops %zu; diff %zu bytes -> model %zu, zstd %zu; extra %zu -> zstd %zu\n",
              ops.size(), diff.size(), modeled, zstd_diff->size(), extra.size(),
              zstd_extra->size());
  return 0;
}

}  // namespace
}  // namespace patchfarm

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: engine_phases OLD NEW\n");
    return 2;
  }
  return patchfarm::Run(argv[1], argv[2]);
}
