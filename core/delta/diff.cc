#include "core/delta/diff.h"

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "core/delta/diff_model.h"
#include "core/delta/matcher.h"
#include "core/delta/suffix_index.h"
#include "core/delta/varint.h"
#include "core/delta/zstd_codec.h"

namespace patchfarm {
namespace {

constexpr uint64_t kPrefixAlwaysTriedBytes = uint64_t{1} << 20;

struct RawStreams {
  std::string streams[3];  // Indexed by kControlStream, kDiffStream, kExtraStream.
};

RawStreams EncodeOps(absl::string_view old_data, absl::string_view new_data,
                     const std::vector<DeltaOp>& ops) {
  RawStreams raw;
  std::string& control = raw.streams[kControlStream];
  std::string& diff = raw.streams[kDiffStream];
  std::string& extra = raw.streams[kExtraStream];
  int64_t old_cursor = 0;
  for (const DeltaOp& op : ops) {
    int64_t seek = op.diff_len > 0 ? op.old_pos - old_cursor : 0;
    PutVarint(ZigZag(seek), &control);
    PutVarint(static_cast<uint64_t>(op.diff_len), &control);
    PutVarint(static_cast<uint64_t>(op.extra_len), &control);
    old_cursor += seek;
    size_t at = diff.size();
    diff.resize(at + op.diff_len);
    for (int64_t i = 0; i < op.diff_len; ++i) {
      diff[at + i] = static_cast<char>(new_data[op.new_pos + i] - old_data[old_cursor + i]);
    }
    old_cursor += op.diff_len;
    extra.append(new_data.data() + op.new_pos + op.diff_len, op.extra_len);
  }
  return raw;
}

// Compresses the three streams, the diff stream beside the others: control and
// extra with zstd, diff with zstd or, for kModeledStreams, the diff model.
absl::StatusOr<std::string> StreamsPatch(const PatchHeader& base, absl::string_view old_data,
                                         const std::vector<DeltaOp>& ops,
                                         const RawStreams& raw, PatchMethod method,
                                         const DiffOptions& options) {
  absl::StatusOr<std::string> compressed[3];
  auto compress = [&](int i) {
    if (i == kDiffStream && method == PatchMethod::kModeledStreams) {
      DiffModelEncoder encoder;
      const auto* diff = reinterpret_cast<const uint8_t*>(raw.streams[i].data());
      for (const DeltaOp& op : ops) {
        encoder.Encode(reinterpret_cast<const uint8_t*>(old_data.data()) + op.old_pos, diff,
                       op.diff_len);
        diff += op.diff_len;
      }
      compressed[i] = encoder.Finish();
      return;
    }
    ZstdOptions zstd;
    zstd.level = options.level;
    compressed[i] = ZstdCompress(raw.streams[i], zstd);
  };
  // The diff stream is the long one: it gets its own thread when allowed.
  std::thread diff_thread;
  if (options.threads > 1) {
    diff_thread = std::thread(compress, kDiffStream);
  } else {
    compress(kDiffStream);
  }
  compress(kExtraStream);
  compress(kControlStream);
  if (diff_thread.joinable()) diff_thread.join();
  PatchHeader header = base;
  header.method = method;
  for (int i = 0; i < 3; ++i) {
    if (!compressed[i].ok()) return compressed[i].status();
    header.streams.push_back({0, compressed[i]->size(), raw.streams[i].size(),
                              FrameChecksum(*compressed[i])});
  }
  std::string patch = SerializePatchHeader(header);
  for (int i = 0; i < 3; ++i) patch += *compressed[i];
  return patch;
}

absl::StatusOr<std::string> PrefixPatch(const PatchHeader& base, absl::string_view old_data,
                                        absl::string_view new_data,
                                        const DiffOptions& options) {
  ZstdOptions zstd;
  zstd.level = options.level;
  zstd.prefix = old_data;
  PF_ASSIGN_OR_RETURN(std::string frame, ZstdCompress(new_data, zstd));
  PatchHeader header = base;
  header.method = PatchMethod::kZstdPrefix;
  header.streams.push_back({0, frame.size(), new_data.size(), FrameChecksum(frame)});
  return SerializePatchHeader(header) + frame;
}

absl::StatusOr<SuffixIndex> LoadOrBuildIndex(absl::string_view old_data, const Digest& digest,
                                             const DiffOptions& options, bool* cached) {
  *cached = false;
  if (options.index_store != nullptr && !old_data.empty()) {
    std::optional<std::string> bytes = options.index_store->Load(digest);
    if (bytes) {
      absl::StatusOr<SuffixIndex> index = SuffixIndex::Deserialize(old_data, *bytes);
      if (index.ok()) {
        *cached = true;
        return index;
      }  // A bad entry is rebuilt and overwritten.
    }
  }
  PF_ASSIGN_OR_RETURN(SuffixIndex index, SuffixIndex::Build(old_data));
  if (options.index_store != nullptr && !old_data.empty()) {
    std::string bytes = index.Serialize();
    if (!bytes.empty()) options.index_store->Save(digest, bytes);
  }
  return index;
}

}  // namespace

absl::StatusOr<std::string> Diff(absl::string_view old_data, absl::string_view new_data,
                                 const DiffOptions& options, DiffStats* stats) {
  if (old_data.size() > options.max_input_bytes ||
      new_data.size() > options.max_input_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input too large: old ", old_data.size(), " bytes, new ", new_data.size(),
        " bytes, limit ", options.max_input_bytes));
  }
  DiffStats local_stats;
  if (stats == nullptr) stats = &local_stats;
  PatchHeader base;
  base.old_size = old_data.size();
  base.new_size = new_data.size();
  base.old_digest = Sha256Of(old_data);
  base.new_digest = Sha256Of(new_data);

  std::vector<DeltaOp> ops;
  {
    PF_ASSIGN_OR_RETURN(SuffixIndex index, LoadOrBuildIndex(old_data, base.old_digest, options,
                                                            &stats->index_cached));
    MatchOptions match;
    match.threads = options.threads;
    ops = MatchAll(old_data, new_data, index, match);
  }  // The index (4 bytes per old byte) is freed before compression starts.
  RawStreams raw = EncodeOps(old_data, new_data, ops);
  stats->ops = ops.size();
  stats->diff_bytes = raw.streams[kDiffStream].size();
  stats->extra_bytes = raw.streams[kExtraStream].size();
  PatchMethod method =
      options.fast_apply ? PatchMethod::kStreams : PatchMethod::kModeledStreams;
  PF_ASSIGN_OR_RETURN(std::string patch,
                      StreamsPatch(base, old_data, ops, raw, method, options));
  stats->method = method;
  stats->streams_patch_bytes = patch.size();
  raw = RawStreams();
  std::vector<DeltaOp>().swap(ops);

  // The prefix candidate costs about as much time again; on release builds it
  // has only been seen to win where the streams patch came out large.
  const bool worth_trying = new_data.size() <= kPrefixAlwaysTriedBytes ||
                            patch.size() > new_data.size() / 10;
  if (options.try_zstd_prefix && worth_trying && !old_data.empty() &&
      new_data.size() <= kMaxPrefixMethodNewBytes &&
      old_data.size() + new_data.size() <= (uint64_t{1} << kMaxPrefixWindowLog)) {
    PF_ASSIGN_OR_RETURN(std::string prefix_patch,
                        PrefixPatch(base, old_data, new_data, options));
    stats->prefix_patch_bytes = prefix_patch.size();
    if (prefix_patch.size() < patch.size()) {
      stats->method = PatchMethod::kZstdPrefix;
      patch = std::move(prefix_patch);
    }
  }
  return patch;
}

}  // namespace patchfarm
