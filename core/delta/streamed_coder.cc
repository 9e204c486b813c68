#include "core/delta/streamed_coder.h"

#include <algorithm>
#include <string>
#include <thread>

#include "common/sha256.h"
#include "common/status_macros.h"
#include "core/delta/bounded_streams.h"
#include "core/delta/diff_model.h"
#include "core/delta/exact_cuts.h"
#include "core/delta/format.h"

namespace patchfarm {
namespace {

// Pieces of one op's diff region: old and new under it, their diff bytes,
// each with up to kDiffModelLookahead bytes more within the op.
class RegionReader {
 public:
  RegionReader(const ByteSource* old, const ByteSource* new_file)
      : old_(old),
        new_(new_file),
        old_buf_(kBoundedPiece + kDiffModelLookahead, '\0'),
        new_buf_(old_buf_.size(), '\0'),
        diff_(old_buf_.size(), '\0') {}

  // Reads op's diff bytes [done, done + n) and the look-ahead after them;
  // returns how many bytes it read (n plus the look-ahead).
  absl::StatusOr<size_t> Read(const DeltaOp& op, uint64_t done, size_t n) {
    const size_t look = std::min<uint64_t>(op.diff_len - done, n + kDiffModelLookahead);
    PF_RETURN_IF_ERROR(
        ReadExactly(*old_, op.old_pos + done, old_buf_.data(), look, "old"));
    PF_RETURN_IF_ERROR(
        ReadExactly(*new_, op.new_pos + done, new_buf_.data(), look, "new"));
    for (size_t i = 0; i < look; ++i)
      diff_[i] = static_cast<char>(new_buf_[i] - old_buf_[i]);
    return look;
  }
  const char* old_bytes() const { return old_buf_.data(); }
  const char* new_bytes() const { return new_buf_.data(); }
  const char* diff() const { return diff_.data(); }

 private:
  const ByteSource* old_;
  const ByteSource* new_;
  std::string old_buf_, new_buf_, diff_;
};

// Codes the diff bytes of pieces [begin, end) that are not exact with the
// diff model.
absl::StatusOr<std::string> ModelDiff(const std::vector<ExactCutter::Piece>& pieces,
                                      size_t begin, size_t end, int model_bits,
                                      RegionReader* reader) {
  uint64_t coded_bytes = 0;
  for (size_t k = begin; k < end; ++k) {
    if (!pieces[k].all_zero) coded_bytes += pieces[k].op.diff_len;
  }
  DiffModelEncoder encoder(model_bits, coded_bytes);
  for (size_t k = begin; k < end; ++k) {
    const ExactCutter::Piece& piece = pieces[k];
    if (piece.all_zero) continue;
    for (uint64_t done = 0; done < static_cast<uint64_t>(piece.op.diff_len);) {
      const size_t n = std::min<uint64_t>(kBoundedPiece, piece.op.diff_len - done);
      PF_ASSIGN_OR_RETURN(size_t look, reader->Read(piece.op, done, n));
      encoder.Encode(reinterpret_cast<const uint8_t*>(reader->old_bytes()), look,
                     reinterpret_cast<const uint8_t*>(reader->diff()), n);
      done += n;
    }
  }
  return encoder.Finish();
}

}  // namespace

absl::StatusOr<bool> CodeNearIdentical(const ByteSource& old, const ByteSource& new_file,
                                       const std::vector<DeltaOp>& ops,
                                       const DiffOptions& options, ByteSink* patch,
                                       DiffStats* stats) {
  if (options.fast_apply || !options.sparse) return false;
  PF_RETURN_IF_ERROR(CheckOpsCover(ops, old.size(), new_file.size()));
  uint64_t diff_bytes = 0;
  for (const DeltaOp& op : ops) diff_bytes += op.diff_len;
  // Diff tries prediction above this (CodeOps), which needs whole streams.
  const uint64_t max_nonzero =
      options.predict_references ? diff_bytes / 1024 : diff_bytes;

  // Pass 1: new in order (hashed on the way), its diff bytes cut at zero
  // runs, its extra bytes kept.
  RegionReader reader(&old, &new_file);
  ExactCutter cutter;
  Sha256 new_hash;
  std::string extra;
  for (const DeltaOp& op : ops) {
    cutter.StartOp(op);
    for (uint64_t done = 0; done < static_cast<uint64_t>(op.diff_len);) {
      const size_t n = std::min<uint64_t>(kBoundedPiece, op.diff_len - done);
      PF_RETURN_IF_ERROR(reader.Read(op, done, n).status());
      new_hash.Update(absl::string_view(reader.new_bytes(), n));
      cutter.Add(reader.diff(), n);
      if (cutter.nonzero() > max_nonzero) return false;
      done += n;
    }
    cutter.EndOp();
    const size_t at = extra.size();
    extra.resize(at + op.extra_len);
    PF_RETURN_IF_ERROR(
        ReadExactly(new_file, op.new_pos + op.diff_len, &extra[at], op.extra_len, "new"));
    new_hash.Update(absl::string_view(extra).substr(at));
  }

  PatchHeader header;
  header.method = SparseModeledMethod(/*predicted=*/false, options);
  header.old_size = old.size();
  header.new_size = new_file.size();
  header.new_digest = new_hash.Finish();
  Sha256 old_hash;
  PF_RETURN_IF_ERROR(ForEachPiece(old, [&](absl::string_view piece) {
    old_hash.Update(piece);
    return absl::OkStatus();
  }));
  header.old_digest = old_hash.Finish();

  const std::vector<ExactCutter::Piece>& pieces = cutter.pieces();
  std::string control;
  ControlEncoder entries(&control, /*sparse=*/true);
  uint64_t exact_bytes = 0;
  for (const ExactCutter::Piece& piece : pieces) {
    const DeltaOp& op = piece.op;
    entries.Add(op.old_pos, op.diff_len, op.extra_len, piece.all_zero);
    if (piece.all_zero) exact_bytes += op.diff_len;
  }

  // Pass 2: the model codes what is not exact, beside the other streams'
  // compression, as Diff's StreamsPatch does.
  absl::StatusOr<std::string> frames[3];
  // In two parts for HasDiffParts methods (one after the other here).
  std::vector<uint64_t> coded, nonzero;
  for (const ExactCutter::Piece& piece : pieces) {
    coded.push_back(piece.all_zero ? 0 : piece.op.diff_len);
    nonzero.push_back(piece.nonzero);
  }
  const size_t first = HasDiffParts(header.method) ? FirstPartEntries(coded, nonzero, options)
                                                   : pieces.size();
  const int model_bits = ModelBitsFor(header.method, coded, first, control.size() + extra.size());
  absl::StatusOr<std::string> parts[2] = {std::string(), std::string()};
  auto model = [&] {
    parts[0] = ModelDiff(pieces, 0, first, model_bits, &reader);
    if (parts[0].ok() && first < pieces.size()) {
      parts[1] = ModelDiff(pieces, first, pieces.size(), model_bits, &reader);
    }
  };
  std::thread model_thread;
  if (options.threads > 1) {
    model_thread = std::thread(model);
  } else {
    model();
  }
  frames[kExtraStream] = CompressSideStream(extra, header.method, options);
  frames[kControlStream] = CompressSideStream(control, header.method, options);
  if (model_thread.joinable()) model_thread.join();
  for (const auto& part : parts) {
    if (!part.ok()) return part.status();
  }
  for (int i : {kExtraStream, kControlStream}) {
    if (!frames[i].ok()) return frames[i].status();
  }
  PF_RETURN_IF_ERROR(PreferZstdSideStreams(control, extra, first, pieces.size(),
                                           parts[0]->size(), model_bits, options,
                                           &header.method, &*frames[kControlStream],
                                           &*frames[kExtraStream]));
  frames[kDiffStream] = DiffStreamOf(header.method, first, model_bits, *parts[0], *parts[1]);
  const std::string bytes = SerializePatch(header, {*frames[0], *frames[1], *frames[2]},
                                           {control.size(), diff_bytes, extra.size()});
  // Diff would try the zstd-prefix method beside this patch: let it.
  if (TriesPrefixMethod(old.size(), new_file.size(), bytes.size(), options)) return false;
  PF_RETURN_IF_ERROR(patch->Append(bytes));

  stats->method = header.method;
  stats->ops = pieces.size();
  stats->diff_bytes = diff_bytes;
  stats->nonzero_diff_bytes = cutter.nonzero();
  stats->exact_diff_bytes = exact_bytes;
  stats->extra_bytes = extra.size();
  stats->streams_patch_bytes = bytes.size();
  return true;
}

}  // namespace patchfarm
