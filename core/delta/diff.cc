#include "core/delta/diff.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <future>
#include <numeric>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "core/delta/diff_model.h"
#include "core/delta/exact_cuts.h"
#include "core/delta/lzma_codec.h"
#include "core/delta/matcher.h"
#include "core/delta/reference_predictor.h"
#include "core/delta/suffix_index.h"
#include "core/delta/varint.h"
#include "core/delta/zeroed_bytes.h"
#include "core/delta/zstd_codec.h"

namespace patchfarm {
namespace {

constexpr uint64_t kPrefixAlwaysTriedBytes = uint64_t{1} << 20;
// The prefix method is tried only where old and new together are at most
// this: its apply holds old whole and a window of new (apply.h), and its
// zstd encoder indexes all of old, at level 19 for minutes on a big one (a
// 300 MiB old beside 7 MiB of new: 86 s, where the whole streams diff took
// 16 s). So apply of the patches diff makes stays within 64 MiB.
constexpr uint64_t kPrefixTriedPairBytes = uint64_t{48} << 20;
// Anchors (matcher.h's MatchAnchored) that cover at least 15% of old leave
// the rest to the suffix sort: between builds of one program they cover
// 15-60% of it, and the sort is that much shorter. Where they cover less, old
// is sorted whole, and its suffix array may come from (and go to)
// DiffOptions::index_store.
constexpr uint64_t kMaxAnchoredSortPercent = 85;

// Diff streams that code fewer bytes than this are not split in two parts:
// a second model would learn again what the first knows, for little time.
constexpr uint64_t kMinDiffPartBytes = uint64_t{1} << 20;
// Predicted bases of fewer bytes than this are made on one thread.
constexpr uint64_t kMinThreadedBasesBytes = uint64_t{1} << 20;
// The most diff bytes a sample of prediction's gain reads (on a 1 GiB game
// pack its first eighth of non-zero diff bytes lay in 213 MB: 2 CPU-seconds
// for each instruction set, neither of them kept).
constexpr uint64_t kMaxSampleBytes = uint64_t{16} << 20;
// What a non-zero diff byte costs the model, in decisions (FirstPartEntries).
constexpr uint64_t kNonzeroDecisions = 12;

// Side streams (control and extra) of fewer bytes than this are also
// compressed with zstd (PreferZstdSideStreams): a few milliseconds at most.
constexpr uint64_t kMaxZstdTriedBytes = uint64_t{64} << 10;

// The LZMA preset for a zstd level (DiffOptions::level): 6 for the default 19
// and above (as slow as zstd -19 on extra streams and 4-8% smaller), lower
// presets for the faster levels.
int LzmaPresetFor(int zstd_level) { return std::clamp(zstd_level / 3, 0, 6); }

// The control and diff streams of a set of ops, uncompressed. (Their extra
// stream depends on the ops alone: ExtraCompression makes it once.)
struct RawStreams {
  std::string control;
  ZeroedBytes diff;
  // The instruction set whose references were predicted (IsPredicted
  // methods); none where the diff bytes are taken against old's own bytes.
  // With it, each diff byte was taken against old's byte under it with the
  // references predicted; that base is not kept (it is new's byte less the
  // diff byte).
  std::optional<InstructionSet> predicted;
  uint64_t nonzero_diff_bytes = 0;
  std::vector<bool> exact;         // Per op: marked exact (sparse methods).
  std::vector<uint64_t> nonzero;  // Per op: its non-zero diff bytes.
};

// The bases of every op's diff region, concatenated in op order: old's bytes
// with references of instruction set `set` predicted through the ops. With
// threads, they are made in two halves at once (a region's base depends on
// its own old bytes and the map alone).
ZeroedBytes PredictedBases(absl::string_view old_data, const std::vector<DeltaOp>& ops,
                           InstructionSet set, int threads) {
  std::vector<uint64_t> starts(ops.size() + 1);
  for (size_t k = 0; k < ops.size(); ++k) starts[k + 1] = starts[k] + ops[k].diff_len;
  ZeroedBytes bases(starts.back());
  auto* out = reinterpret_cast<uint8_t*>(bases.data());
  const ReferenceMap map(ops);
  auto fill = [&](size_t begin, size_t end) {
    ReferencePredictor predictor(&map, static_cast<int64_t>(old_data.size()), set);
    for (size_t k = begin; k < end; ++k) {
      const DeltaOp& op = ops[k];
      if (op.diff_len == 0) continue;
      predictor.StartRegion(op.old_pos, op.new_pos, op.diff_len);
      predictor.Fill(0, reinterpret_cast<const uint8_t*>(old_data.data()) + op.old_pos,
                     op.diff_len, out + starts[k]);
    }
  };
  if (threads < 2 || bases.size() < kMinThreadedBasesBytes) {
    fill(0, ops.size());
    return bases;
  }
  const size_t half =
      std::upper_bound(starts.begin(), starts.end(), starts.back() / 2) - starts.begin() - 1;
  std::future<void> second = std::async(std::launch::async, fill, half, ops.size());
  fill(0, half);
  second.get();
  return bases;
}

// Whether predicting references of `set` (through all of `ops`) leaves fewer
// non-zero diff bytes than `raw` (unpredicted, or predicted for another
// instruction set) has in a sample: the diff bytes from the first op on until
// they hold an eighth of raw's non-zero ones, or kMaxSampleBytes of them.
// Counts without keeping any stream.
bool SampleGainsFromPrediction(absl::string_view old_data, absl::string_view new_data,
                               const std::vector<DeltaOp>& ops, const RawStreams& raw,
                               InstructionSet set) {
  const ReferenceMap map(ops);
  ReferencePredictor predictor(&map, static_cast<int64_t>(old_data.size()), set);
  uint8_t base[64 << 10];
  const auto* raw_diff = reinterpret_cast<const uint8_t*>(raw.diff.data());
  uint64_t predicted = 0, current = 0, sampled = 0;  // Non-zero bytes: `set`'s, raw's.
  for (size_t k = 0; k < ops.size() && current * 8 < raw.nonzero_diff_bytes &&
                     sampled < kMaxSampleBytes;
       raw_diff += ops[k].diff_len, ++k) {
    const DeltaOp& op = ops[k];
    if (op.diff_len > 0) predictor.StartRegion(op.old_pos, op.new_pos, op.diff_len);
    for (int64_t at = 0; at < op.diff_len && sampled < kMaxSampleBytes;) {
      const int64_t n = std::min<int64_t>({int64_t{sizeof base}, op.diff_len - at,
                                           static_cast<int64_t>(kMaxSampleBytes - sampled)});
      predictor.Fill(at, reinterpret_cast<const uint8_t*>(old_data.data()) + op.old_pos + at, n,
                     base);
      const auto* want = reinterpret_cast<const uint8_t*>(new_data.data()) + op.new_pos + at;
      for (int64_t i = 0; i < n; ++i) {
        predicted += want[i] != base[i];
        current += raw_diff[at + i] != 0;
      }
      at += n;
      sampled += n;
    }
  }
  return predicted < current;
}

// Writes diff[i] = new_bytes[i] - bases[i] for i < n and returns how many
// are non-zero: eight bytes at a time (bytewise subtraction without borrows
// across bytes), as most diff bytes are zero. `diff` may be `bases`. If
// `diff_zeroed` (diff[0, n) holds zeros already), zero diff bytes are not
// written, so that pages of a ZeroedBytes that stay zero stay untouched.
uint64_t SubtractBases(const uint8_t* new_bytes, const uint8_t* bases, uint8_t* diff, size_t n,
                       bool diff_zeroed) {
  constexpr uint64_t kHigh = 0x8080808080808080u, kLow = 0x0101010101010101u;
  uint64_t nonzero = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t a, b;
    std::memcpy(&a, new_bytes + i, 8);
    std::memcpy(&b, bases + i, 8);
    const uint64_t d = ((a | kHigh) - (b & ~kHigh)) ^ ((a ^ ~b) & kHigh);
    if (d != 0 || !diff_zeroed) std::memcpy(diff + i, &d, 8);
    if (d != 0) {
      uint64_t any = d | d >> 4;  // Each byte's bits folded into its lowest.
      any |= any >> 2;
      any |= any >> 1;
      nonzero += ((any & kLow) * kLow) >> 56;  // Adds up the bytes' low bits.
    }
  }
  for (; i < n; ++i) {
    const auto d = static_cast<uint8_t>(new_bytes[i] - bases[i]);
    if (d != 0 || !diff_zeroed) diff[i] = d;
    nonzero += d != 0;
  }
  return nonzero;
}

// Sets raw's control stream and per-op fields for `ops`, whose diff bytes
// (raw->diff, in op order) have nonzero[k] non-zero bytes each. A predicted
// method's control stream names raw->predicted in its first byte. `sparse`:
// control entries mark whether their diff bytes are all zero (IsSparse
// methods).
void SetEntries(const std::vector<DeltaOp>& ops, std::vector<uint64_t> nonzero, bool sparse,
                RawStreams* raw) {
  raw->control.clear();
  if (raw->predicted) raw->control.push_back(static_cast<char>(*raw->predicted));
  ControlEncoder entries(&raw->control, sparse);
  raw->exact.assign(ops.size(), false);
  raw->nonzero_diff_bytes = 0;
  for (size_t k = 0; k < ops.size(); ++k) {
    const DeltaOp& op = ops[k];
    raw->nonzero_diff_bytes += nonzero[k];
    raw->exact[k] = sparse && op.diff_len > 0 && nonzero[k] == 0;
    entries.Add(op.old_pos, op.diff_len, op.extra_len, raw->exact[k]);
  }
  raw->nonzero = std::move(nonzero);
}

// Codes n diff bytes taken against predicted bases, which are new's bytes
// less the diff bytes: made for a piece at a time in `bases`, each piece
// coded with the bytes after it that the model looks at (the same bits as
// coding the n bytes whole).
void EncodePredicted(const uint8_t* new_bytes, const uint8_t* diff, size_t n,
                     std::vector<uint8_t>* bases, DiffModelEncoder* encoder) {
  constexpr size_t kPiece = 64 << 10;
  bases->resize(std::min(n, kPiece + kDiffModelLookahead));
  for (size_t at = 0; at < n; at += kPiece) {
    const size_t piece = std::min(kPiece, n - at);
    const size_t seen = std::min(n - at, piece + kDiffModelLookahead);
    SubtractBases(new_bytes + at, diff + at, bases->data(), seen, /*diff_zeroed=*/false);
    encoder->Encode(bases->data(), seen, diff + at, piece);
  }
}

// The streams of `ops`, with references of `predicted` predicted (SetEntries
// for the rest).
RawStreams EncodeOps(absl::string_view old_data, absl::string_view new_data,
                     const std::vector<DeltaOp>& ops, std::optional<InstructionSet> predicted,
                     bool sparse, int threads) {
  RawStreams raw;
  raw.predicted = predicted;
  // Predicted bases are made in the diff stream's place and subtracted there.
  if (predicted) {
    raw.diff = PredictedBases(old_data, ops, *predicted, threads);
  } else {
    uint64_t diff_bytes = 0;
    for (const DeltaOp& op : ops) diff_bytes += op.diff_len;
    raw.diff = ZeroedBytes(diff_bytes);
  }
  std::vector<uint64_t> nonzero(ops.size());
  auto* diff = reinterpret_cast<uint8_t*>(raw.diff.data());
  const auto* old_bytes = reinterpret_cast<const uint8_t*>(old_data.data());
  for (size_t k = 0, start = 0; k < ops.size(); start += ops[k].diff_len, ++k) {
    const DeltaOp& op = ops[k];
    if (op.diff_len == 0) continue;
    const uint8_t* bases = predicted ? diff + start : old_bytes + op.old_pos;
    nonzero[k] = SubtractBases(reinterpret_cast<const uint8_t*>(new_data.data()) + op.new_pos,
                               bases, diff + start, op.diff_len, /*diff_zeroed=*/!predicted);
  }
  SetEntries(ops, std::move(nonzero), sparse, &raw);
  return raw;
}

// The extra stream of `ops` (new's bytes that no op takes from old), and it
// compressed as the side streams of the methods `options` make: with threads,
// on a thread of its own from construction on, while the diff stream is made
// (the extra stream depends on the ops alone; cutting them at zero runs or
// predicting references does not change it).
class ExtraCompression {
 public:
  ExtraCompression(absl::string_view new_data, const std::vector<DeltaOp>& ops,
                   const DiffOptions& options) {
    for (const DeltaOp& op : ops) {
      raw_.append(new_data.data() + op.new_pos + op.diff_len, op.extra_len);
    }
    // Side streams are LZMA2 exactly where the sparse modeled methods are
    // written (methods 9 and 10).
    const PatchMethod method = options.sparse && !options.fast_apply
                                   ? SparseModeledMethod(/*predicted=*/false, options)
                                   : PatchMethod::kStreams;
    auto job = [this, method, options] { result_ = CompressSideStream(raw_, method, options); };
    if (options.threads > 1) {
      running_ = std::async(std::launch::async, job);
    } else {
      job();
    }
  }
  const std::string& raw() const { return raw_; }
  // The compressed stream (waits for it).
  absl::StatusOr<std::string>& Get() {
    if (running_.valid()) running_.get();
    return result_;
  }

 private:
  std::string raw_;
  absl::StatusOr<std::string> result_;
  std::future<void> running_;  // Declared last: destroyed (waited for) first.
};

// Compresses the three streams at once: control and extra with zstd or, for
// IsLzma methods, LZMA2; diff with zstd or, for IsModeled methods, the diff
// model (two, each coding a part, for HasDiffParts methods). The extra stream
// comes compressed from `extra`.
absl::StatusOr<std::string> StreamsPatch(const PatchHeader& base, absl::string_view old_data,
                                         absl::string_view new_data,
                                         const std::vector<DeltaOp>& ops,
                                         const RawStreams& raw, ExtraCompression* extra,
                                         PatchMethod* method_in_out,
                                         const DiffOptions& options) {
  PatchMethod method = *method_in_out;
  // Where each op's diff bytes start in the raw diff stream, and how many of
  // them the model codes (none for exact ops).
  std::vector<uint64_t> coded(ops.size()), starts(ops.size());
  for (size_t k = 0, at = 0; k < ops.size(); at += ops[k].diff_len, ++k) {
    starts[k] = at;
    coded[k] = raw.exact[k] ? 0 : ops[k].diff_len;
  }
  const size_t first_entries =
      HasDiffParts(method) ? FirstPartEntries(coded, raw.nonzero, options) : ops.size();
  const int model_bits =
      ModelBitsFor(method, coded, first_entries, raw.control.size() + extra->raw().size());
  // The diff model's output for ops [begin, end).
  auto model = [&](size_t begin, size_t end) {
    DiffModelEncoder encoder(model_bits,
                             std::accumulate(coded.begin() + begin, coded.begin() + end,
                                             uint64_t{0}));
    const auto* diff = reinterpret_cast<const uint8_t*>(raw.diff.data());
    std::vector<uint8_t> bases;  // Predicted bases, a piece at a time.
    for (size_t k = begin; k < end; ++k) {
      if (coded[k] == 0) continue;
      if (!raw.predicted) {
        encoder.Encode(reinterpret_cast<const uint8_t*>(old_data.data()) + ops[k].old_pos,
                       diff + starts[k], coded[k]);
      } else {
        EncodePredicted(reinterpret_cast<const uint8_t*>(new_data.data()) + ops[k].new_pos,
                        diff + starts[k], coded[k], &bases, &encoder);
      }
    }
    return encoder.Finish();
  };
  // The jobs, longest first: the diff stream's (one, or one per part), then
  // the control stream's (the extra stream's runs already). With threads,
  // each gets a thread of its own and the system shares the cores among them.
  std::string parts[2];
  absl::StatusOr<std::string> compressed[3];
  std::vector<std::function<void()>> jobs;
  if (!IsModeled(method)) {
    jobs.push_back(
        [&] { compressed[kDiffStream] = CompressSideStream(raw.diff.view(), method, options); });
  } else {
    jobs.push_back([&] { parts[0] = model(0, first_entries); });
    if (first_entries < ops.size()) {
      jobs.push_back([&] { parts[1] = model(first_entries, ops.size()); });
    }
  }
  jobs.push_back(
      [&] { compressed[kControlStream] = CompressSideStream(raw.control, method, options); });
  // Futures: each waits for its job even if another job throws.
  std::vector<std::future<void>> running;
  for (size_t j = 1; j < jobs.size() && options.threads > 1; ++j) {
    running.push_back(std::async(std::launch::async, jobs[j]));
  }
  jobs[0]();
  if (running.empty()) {
    for (size_t j = 1; j < jobs.size(); ++j) jobs[j]();
  }
  for (std::future<void>& job : running) job.get();
  compressed[kExtraStream] = std::move(extra->Get());
  for (int i : {kExtraStream, kControlStream}) {
    if (!compressed[i].ok()) return compressed[i].status();
  }
  if (IsModeled(method)) {
    PF_RETURN_IF_ERROR(PreferZstdSideStreams(raw.control, extra->raw(), first_entries, ops.size(),
                                             parts[0].size(), model_bits, options, &method,
                                             &*compressed[kControlStream],
                                             &*compressed[kExtraStream]));
    compressed[kDiffStream] = DiffStreamOf(method, first_entries, model_bits, parts[0], parts[1]);
  }
  if (!compressed[kDiffStream].ok()) return compressed[kDiffStream].status();
  *method_in_out = method;
  PatchHeader header = base;
  header.method = method;
  return SerializePatch(header, {*compressed[0], *compressed[1], *compressed[2]},
                        {raw.control.size(), raw.diff.size(), extra->raw().size()});
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
  return SerializePatch(header, {frame}, {new_data.size()});
}

absl::StatusOr<SuffixIndex> LoadOrBuildIndex(absl::string_view old_data, const Digest& digest,
                                             const DiffOptions& options, bool* cached) {
  *cached = false;
  const std::string key = "sa/" + DigestToHex(digest);
  if (options.index_store != nullptr && !old_data.empty()) {
    std::optional<std::string> bytes = options.index_store->Load(key);
    if (bytes) {
      absl::StatusOr<SuffixIndex> index = SuffixIndex::Deserialize(old_data, std::move(*bytes));
      if (index.ok()) {
        *cached = true;
        return index;
      }  // A bad entry is rebuilt and overwritten.
    }
  }
  PF_ASSIGN_OR_RETURN(SuffixIndex index, SuffixIndex::Build(old_data, options.threads));
  if (options.index_store != nullptr && !old_data.empty()) {
    const absl::string_view bytes = index.Serialize();
    if (!bytes.empty()) options.index_store->Save(key, bytes);
  }
  return index;
}

// A patch header's sizes and digests.
PatchHeader BaseHeader(absl::string_view old_data, absl::string_view new_data) {
  PatchHeader base;
  base.old_size = old_data.size();
  base.new_size = new_data.size();
  base.old_digest = Sha256Of(old_data);
  base.new_digest = Sha256Of(new_data);
  return base;
}

// The instruction set of both files, if they are executables of the same one
// and references are predicted.
std::optional<InstructionSet> SharedInstructionSet(absl::string_view old_data,
                                                   absl::string_view new_data,
                                                   const DiffOptions& options) {
  if (!options.predict_references) return std::nullopt;
  std::optional<InstructionSet> set = DetectInstructionSet(old_data);
  if (set && DetectInstructionSet(new_data) != set) set.reset();
  return set;
}

// The coding half of Diff: the streams of `ops`, with references predicted
// where that leaves fewer non-zero diff bytes (of `set`, or else of each
// instruction set), the diff stream modeled unless options.fast_apply, and the
// zstd-prefix candidate where it may win.
absl::StatusOr<std::string> CodeOps(const PatchHeader& base, absl::string_view old_data,
                                    absl::string_view new_data, std::vector<DeltaOp> ops,
                                    std::optional<InstructionSet> set, const DiffOptions& options,
                                    DiffStats* stats) {
  ExtraCompression extra(new_data, ops, options);
  RawStreams raw = EncodeOps(old_data, new_data, ops, std::nullopt, false, options.threads);
  std::optional<InstructionSet> predicted;
  // Prediction can only remove non-zero diff bytes; with next to none there
  // is nothing to gain.
  const bool worth_predicting = raw.nonzero_diff_bytes * 1024 > raw.diff.size();
  const bool sparse_modeled = options.sparse && !options.fast_apply;
  const uint64_t max_control = MaxPredictedControlBytes(
      sparse_modeled ? PatchMethod::kLzmaSparsePredictedModeledStreams : PatchMethod::kStreams);
  // Text has no references to predict, and is not even sampled (15-50 ms
  // on an 8 MB tar).
  if (options.predict_references && worth_predicting && raw.control.size() < max_control &&
      (set || !LooksLikeText(new_data))) {
    // The executable's instruction set, or else each, is tried; one is kept
    // where it leaves the fewest non-zero diff bytes (the model's cost is
    // mostly theirs). Data of no executable format is tried whole only where
    // a sample gains (text: a tenth of a second on an 8 MB tar saved).
    std::vector<InstructionSet> tried = {InstructionSet::kX86_64, InstructionSet::kArm64};
    if (set) tried = {*set};
    auto sample_gains = [&](InstructionSet candidate) {
      return SampleGainsFromPrediction(old_data, new_data, ops, raw, candidate);
    };
    // With threads, arm64's sample is taken beside x86-64's, against the
    // unpredicted streams; again if x86-64's prediction is kept.
    std::future<bool> arm64_sample;
    if (!set && options.threads > 1) {
      arm64_sample = std::async(std::launch::async, sample_gains, InstructionSet::kArm64);
    }
    for (InstructionSet candidate : tried) {
      bool gains = true;
      if (!set && candidate == InstructionSet::kArm64) {
        gains = (arm64_sample.valid() && !predicted) ? arm64_sample.get() : sample_gains(candidate);
      } else if (!set) {
        gains = sample_gains(candidate);
      }
      if (!gains) continue;
      // An executable's one candidate is compared by counts alone: the
      // unpredicted streams are dropped first and made again only if the
      // prediction loses (seldom), so that two diff streams are never held.
      const uint64_t best_nonzero = raw.nonzero_diff_bytes;
      if (set) raw = RawStreams();
      RawStreams with = EncodeOps(old_data, new_data, ops, candidate, false, options.threads);
      if (with.nonzero_diff_bytes < best_nonzero) {
        if (arm64_sample.valid()) arm64_sample.wait();  // It reads raw.
        raw = std::move(with);
        predicted = candidate;
      } else if (set) {
        with = RawStreams();
        raw = EncodeOps(old_data, new_data, ops, std::nullopt, false, options.threads);
      }
    }
  }
  PatchMethod method;
  if (options.fast_apply) {
    method = predicted ? PatchMethod::kPredictedStreams : PatchMethod::kStreams;
  } else {
    method = predicted ? PatchMethod::kPredictedModeledStreams : PatchMethod::kModeledStreams;
    if (options.sparse) {
      std::vector<uint64_t> nonzero;
      std::vector<DeltaOp> cut = CutAtZeroRuns(ops, raw.diff.data(), &nonzero);
      // Cuts change the regions a predictor sees; without them, or without
      // prediction, the bases and so the diff bytes stay: only the entries
      // change.
      if (!predicted || cut.size() == ops.size()) {
        SetEntries(cut, std::move(nonzero), true, &raw);
      } else {
        raw = RawStreams();  // Two sets of whole-file streams would not fit the budget.
        raw = EncodeOps(old_data, new_data, cut, predicted, true, options.threads);
      }
      if (predicted && raw.control.size() > max_control) {
        // Too many entries for a reader to map: the same cuts, unpredicted.
        predicted.reset();
        raw = RawStreams();
        raw = EncodeOps(old_data, new_data, cut, std::nullopt, true, options.threads);
      }
      ops = std::move(cut);
      method = SparseModeledMethod(predicted.has_value(), options);
    }
  }
  stats->ops = ops.size();
  stats->diff_bytes = raw.diff.size();
  stats->extra_bytes = extra.raw().size();
  stats->nonzero_diff_bytes = raw.nonzero_diff_bytes;
  stats->exact_diff_bytes = 0;
  for (size_t k = 0; k < ops.size(); ++k) {
    if (raw.exact[k]) stats->exact_diff_bytes += ops[k].diff_len;
  }
  PF_ASSIGN_OR_RETURN(std::string patch,
                      StreamsPatch(base, old_data, new_data, ops, raw, &extra, &method,
                                   options));
  stats->method = method;
  stats->streams_patch_bytes = patch.size();
  raw = RawStreams();
  std::vector<DeltaOp>().swap(ops);

  if (!predicted && TriesPrefixMethod(old_data.size(), new_data.size(), patch.size(), options)) {
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

}  // namespace

size_t FirstPartEntries(const std::vector<uint64_t>& coded, const std::vector<uint64_t>& nonzero,
                        const DiffOptions& options) {
  uint64_t total = 0;
  for (uint64_t n : coded) total += n;
  if (options.threads < 2 || total < kMinDiffPartBytes) return coded.size();
  // The model's decisions: about one per 8 bytes inside zero runs, and a
  // value's 8 and the flags around it per non-zero byte.
  std::vector<uint64_t> cost(coded.size());
  uint64_t total_cost = 0;
  for (size_t k = 0; k < coded.size(); ++k) {
    cost[k] = coded[k] == 0 ? 0 : coded[k] / 8 + kNonzeroDecisions * nonzero[k];
    total_cost += cost[k];
  }
  size_t k = 0;
  for (uint64_t sum = 0; k < cost.size() && sum < total_cost / 2; ++k) sum += cost[k];
  return k;
}

PatchMethod SparseModeledMethod(bool predicted, const DiffOptions& options) {
  if (options.lzma_streams && options.sized_model) {
    return predicted ? PatchMethod::kSizedLzmaSparsePredictedModeledStreams
                     : PatchMethod::kSizedLzmaSparseModeledStreams;
  }
  if (options.lzma_streams) {
    return predicted ? PatchMethod::kLzmaSparsePredictedModeledStreams
                     : PatchMethod::kLzmaSparseModeledStreams;
  }
  return predicted ? PatchMethod::kSparsePredictedModeledStreams
                   : PatchMethod::kSparseModeledStreams;
}

namespace {

// Whether PreferZstdSideStreams tries the zstd twin of a patch whose diff
// stream has one part (first_entries == entries) and whose control and extra
// streams hold `side_bytes` raw.
bool TriesZstdTwin(size_t first_entries, size_t entries, uint64_t side_bytes) {
  return first_entries == entries && side_bytes < kMaxZstdTriedBytes;
}

}  // namespace

int ModelBitsFor(PatchMethod method, const std::vector<uint64_t>& coded, size_t first_entries,
                 uint64_t side_bytes) {
  if (!HasSizedModel(method) || TriesZstdTwin(first_entries, coded.size(), side_bytes)) {
    return FixedModelBits(method);
  }
  uint64_t first = 0, second = 0;
  for (size_t k = 0; k < coded.size(); ++k) (k < first_entries ? first : second) += coded[k];
  return SizedModelBits(std::max(first, second));
}

absl::Status PreferZstdSideStreams(absl::string_view raw_control, absl::string_view raw_extra,
                                   size_t first_entries, size_t entries, uint64_t first_bytes,
                                   int model_bits, const DiffOptions& options,
                                   PatchMethod* method, std::string* control,
                                   std::string* extra) {
  const PatchMethod twin = IsPredicted(*method) ? PatchMethod::kSparsePredictedModeledStreams
                                                : PatchMethod::kSparseModeledStreams;
  if (!IsLzma(*method) || model_bits != FixedModelBits(twin) ||
      !TriesZstdTwin(first_entries, entries, raw_control.size() + raw_extra.size())) {
    return absl::OkStatus();
  }
  // zstd's Huffman-coded literals may beat LZMA's, which learn slowly.
  PF_ASSIGN_OR_RETURN(std::string zstd_extra, CompressSideStream(raw_extra, twin, options));
  PF_ASSIGN_OR_RETURN(std::string zstd_control, CompressSideStream(raw_control, twin, options));
  std::string head;
  AppendDiffPartsHead({first_entries, first_bytes, model_bits}, *method, &head);
  if (zstd_extra.size() + zstd_control.size() < extra->size() + control->size() + head.size()) {
    *method = twin;
    *extra = std::move(zstd_extra);
    *control = std::move(zstd_control);
  }
  return absl::OkStatus();
}

std::string DiffStreamOf(PatchMethod method, size_t first_entries, int model_bits,
                         absl::string_view first, absl::string_view second) {
  std::string stream;
  if (HasDiffParts(method)) {
    AppendDiffPartsHead({first_entries, first.size(), model_bits}, method, &stream);
  }
  return absl::StrCat(stream, first, second);
}

absl::StatusOr<std::string> CompressSideStream(absl::string_view raw, PatchMethod method,
                                               const DiffOptions& options) {
  if (IsLzma(method)) {
    std::vector<bool> stored((raw.size() + kLzmaStoredPiece - 1) / kLzmaStoredPiece, false);
    for (size_t i = 0; raw.size() >= kLzmaMinStoredRun && i < stored.size(); ++i) {
      PF_ASSIGN_OR_RETURN(stored[i],
                          Incompressible(raw.substr(i * kLzmaStoredPiece, kLzmaStoredPiece)));
    }
    return LzmaCompressStoring(raw, LzmaPresetFor(options.level), stored, options.threads);
  }
  ZstdOptions zstd;
  zstd.level = options.level;
  return ZstdCompress(raw, zstd);
}

bool TriesPrefixMethod(uint64_t old_size, uint64_t new_size, uint64_t streams_patch_bytes,
                       const DiffOptions& options) {
  // The prefix candidate costs about as much time again; on release builds it
  // has only been seen to win where the streams patch came out large, and
  // never on machine code that prediction helped.
  const bool worth_trying =
      new_size <= kPrefixAlwaysTriedBytes || streams_patch_bytes > new_size / 10;
  static_assert(kPrefixTriedPairBytes <= kMaxPrefixMethodNewBytes &&
                    kPrefixTriedPairBytes <= (uint64_t{1} << kMaxPrefixWindowLog),
                "the pairs tried must fit the format's bounds");
  return options.try_zstd_prefix && worth_trying && old_size > 0 &&
         old_size + new_size <= kPrefixTriedPairBytes;
}

uint64_t WholeFileDiffMemory(uint64_t old_size, uint64_t new_size, bool executable) {
  // The suffix array of old, or of old without its anchors (at most 85% of
  // old) and that copy of it.
  const uint64_t suffix_array = old_size * (old_size < (uint64_t{2} << 30) ? 4 : 8) + old_size / 4;
  const uint64_t inputs = (old_size + new_size) * (executable ? 2 : 1);
  return inputs + suffix_array + 3 * new_size + (uint64_t{160} << 20);
}

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
  // The digests are the header's, and the suffix-array cache's key: with
  // threads, old and new are hashed on a thread of their own while the
  // single-threaded start of matching (masks, anchors, the sort) runs.
  std::future<PatchHeader> hashing =
      std::async(options.threads > 1 ? std::launch::async : std::launch::deferred,
                 [old_data, new_data] { return BaseHeader(old_data, new_data); });
  std::optional<PatchHeader> base;
  auto header = [&hashing, &base]() -> const PatchHeader& {
    if (!base) base = hashing.get();
    return *base;
  };

  // Executables are matched with their references' operands masked, so that
  // code differing only in where it points matches as a whole (the predictor
  // then accounts for the operands). The ops are as valid either way.
  const std::optional<InstructionSet> set = SharedInstructionSet(old_data, new_data, options);
  std::vector<DeltaOp> ops;
  {
    std::string masked_old, masked_new;
    absl::string_view match_old = old_data, match_new = new_data;
    if (set) {
      std::future<std::string> masking_new =
          std::async(options.threads > 1 ? std::launch::async : std::launch::deferred,
                     [new_data, set] { return MaskReferences(new_data, *set); });
      masked_old = MaskReferences(old_data, *set);
      masked_new = masking_new.get();
      match_old = masked_old;
      match_new = masked_new;
      if (options.release_inputs) {
        header();  // The hashing thread is done reading old and new.
        options.release_inputs();
      }
    }
    MatchOptions match;
    match.threads = options.threads;
    PF_ASSIGN_OR_RETURN(std::optional<std::vector<DeltaOp>> anchored,
                        MatchAnchored(match_old, match_new, match, kMaxAnchoredSortPercent));
    if (anchored) {
      ops = *std::move(anchored);
      stats->anchored = true;
    } else {
      Digest index_key{};  // Only a cache needs one: it waits for the digests.
      if (options.index_store != nullptr) {
        index_key = header().old_digest;
        if (set) {
          index_key = Sha256Of(
              absl::StrCat("masked ", static_cast<int>(*set), " ", DigestToHex(index_key)));
        }
      }
      const bool all_over = !set && options.reading_old_all_over;
      if (all_over) options.reading_old_all_over(true);
      absl::StatusOr<SuffixIndex> index =
          LoadOrBuildIndex(match_old, index_key, options, &stats->index_cached);
      if (index.ok()) ops = MatchAll(match_old, match_new, *index, match);
      if (all_over) options.reading_old_all_over(false);
      PF_RETURN_IF_ERROR(index.status());
    }
  }  // The index (4 bytes per old byte) is freed before compression starts.
  return CodeOps(header(), old_data, new_data, std::move(ops), set, options, stats);
}

absl::StatusOr<std::string> DiffWithOps(absl::string_view old_data, absl::string_view new_data,
                                        std::vector<DeltaOp> ops, const DiffOptions& options,
                                        DiffStats* stats) {
  PF_RETURN_IF_ERROR(CheckOpsCover(ops, old_data.size(), new_data.size()));
  DiffStats local_stats;
  if (stats == nullptr) stats = &local_stats;
  return CodeOps(BaseHeader(old_data, new_data), old_data, new_data, std::move(ops),
                 SharedInstructionSet(old_data, new_data, options), options, stats);
}

}  // namespace patchfarm
