#include "core/delta/apply.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "core/delta/diff_model.h"
#include "core/delta/lzma_codec.h"
#include "core/delta/reference_predictor.h"
#include "core/delta/varint.h"
#include "core/delta/zstd_codec.h"

namespace patchfarm {
namespace {

// Output is produced in pieces of at most this size.
constexpr size_t kChunkBytes = 256 << 10;
constexpr int kMaxStreamWindowLog = 24;
// Old is read through one buffer of this size.
constexpr size_t kOldBufferBytes = 1 << 20;
static_assert(kChunkBytes + kDiffModelLookahead <= kOldBufferBytes,
              "a piece and its look-ahead must fit the old buffer");

// Reads exactly `n` bytes of old at `offset` (which the caller has checked lie
// within old.size()).
absl::Status ReadOld(const ByteSource& old, uint64_t offset, char* buf, size_t n) {
  absl::StatusOr<size_t> got = old.ReadAt(offset, buf, n);
  if (!got.ok()) {
    return absl::Status(got.status().code(),
                        absl::StrCat("reading the old file at offset ", offset, ": ",
                                     got.status().message()));
  }
  if (*got != n) {
    return absl::FailedPreconditionError(
        absl::StrCat("the old file gave ", *got, " of ", n, " bytes at offset ", offset,
                     " though it has ", old.size(), "; did it change during apply?"));
  }
  return absl::OkStatus();
}

// Old through a buffer of kOldBufferBytes, allocated on first use. A miss
// reads exactly the bytes asked for: the control entries of real patches jump
// around old (biome 2.5.14 -> 2.5.15: of 103k reads, 54k go back and 40k more
// than 1 MiB forward), so read-ahead would mostly copy bytes never used.
class OldReader {
 public:
  explicit OldReader(const ByteSource* old) : old_(old) {}

  // Returns old[offset, offset + n), valid until the next call.
  // REQUIRES: n <= kOldBufferBytes, offset + n <= old size.
  absl::StatusOr<absl::string_view> Read(uint64_t offset, size_t n) {
    if (offset < start_ || offset - start_ + n > length_) {
      if (buffer_.empty()) buffer_.resize(kOldBufferBytes);
      start_ = offset;
      length_ = 0;
      PF_RETURN_IF_ERROR(ReadOld(*old_, offset, buffer_.data(), n));
      length_ = n;
    }
    return absl::string_view(buffer_.data() + (offset - start_), n);
  }

 private:
  const ByteSource* old_;
  std::string buffer_;
  uint64_t start_ = 0;  // old[start_, start_ + length_) is in buffer_.
  size_t length_ = 0;
};

// Returns the SHA-256 of old, read in pieces of kOldBufferBytes: through
// `reader`, or, if `copy` is not null, into *copy, which then holds all of old.
absl::StatusOr<Digest> HashOld(const ByteSource& old, OldReader* reader, std::string* copy) {
  const uint64_t size = old.size();
  if (copy != nullptr) copy->resize(size);
  Sha256 hasher;
  for (uint64_t offset = 0; offset < size;) {
    size_t n = std::min<uint64_t>(kOldBufferBytes, size - offset);
    if (copy != nullptr) {
      PF_RETURN_IF_ERROR(ReadOld(old, offset, copy->data() + offset, n));
      hasher.Update(absl::string_view(copy->data() + offset, n));
    } else {
      PF_ASSIGN_OR_RETURN(absl::string_view piece, reader->Read(offset, n));
      hasher.Update(piece);
    }
    offset += n;
  }
  return hasher.Finish();
}

// Writes output and hashes it on the way.
class HashingOutput {
 public:
  explicit HashingOutput(ByteSink* sink) : sink_(sink) {}
  absl::Status Append(absl::string_view data) {
    hasher_.Update(data);
    written_ += data.size();
    return sink_->Append(data);
  }
  uint64_t written() const { return written_; }
  Digest Finish() { return hasher_.Finish(); }

 private:
  ByteSink* sink_;
  Sha256 hasher_;
  uint64_t written_ = 0;
};

absl::StatusOr<std::unique_ptr<ZstdFrameReader>> OpenStream(const ByteSource& patch,
                                                           const StreamExtent& extent,
                                                           absl::string_view prefix,
                                                           int max_window_log) {
  ZstdFrameReader::Limits limits;
  limits.content_size = extent.raw_size;
  limits.max_window_log = max_window_log;
  limits.prefix = prefix;
  return ZstdFrameReader::Open(&patch, extent.offset, extent.compressed_size, limits);
}

// A stream of `method`: one LZMA2 stream for IsLzma methods' control and extra
// streams, else a zstd frame.
absl::StatusOr<std::unique_ptr<StreamReader>> OpenStream(const ByteSource& patch,
                                                        PatchMethod method,
                                                        const StreamExtent& extent) {
  if (IsLzma(method)) {
    return LzmaStreamReader::Open(&patch, extent.offset, extent.compressed_size,
                                  extent.raw_size);
  }
  return OpenStream(patch, extent, {}, kMaxStreamWindowLog);
}

// One stream read as the sequence of its frames (FORMAT.md: one frame, or n
// for kFramedStreams), each opened once the one before it is read to its end
// and checked finished.
class FrameSequence {
 public:
  FrameSequence(const ByteSource* patch, PatchMethod method, std::vector<StreamExtent> frames)
      : patch_(patch), method_(method), frames_(std::move(frames)) {}

  // Fills `dst` with exactly `n` bytes. DataLoss if the frames end early.
  absl::Status Read(char* dst, size_t n) {
    while (n > 0) {
      if (left_ == 0) {
        PF_RETURN_IF_ERROR(FinishFrame());
        if (next_ == frames_.size()) return absl::DataLossError("corrupt patch: a stream ends early");
        PF_RETURN_IF_ERROR(OpenFrame(frames_[next_++]));
        continue;
      }
      const size_t take = static_cast<size_t>(std::min<uint64_t>(n, left_));
      PF_RETURN_IF_ERROR(reader_->Read(dst, take));
      dst += take;
      n -= take;
      left_ -= take;
    }
    return absl::OkStatus();
  }
  // OK if every frame was read to its end (checksum included).
  absl::Status CheckFinished() {
    for (;;) {
      if (left_ != 0) return absl::DataLossError("corrupt patch: a stream has bytes left over");
      PF_RETURN_IF_ERROR(FinishFrame());
      if (next_ == frames_.size()) return absl::OkStatus();
      PF_RETURN_IF_ERROR(OpenFrame(frames_[next_++]));
    }
  }

 private:
  absl::Status OpenFrame(const StreamExtent& frame) {
    PF_ASSIGN_OR_RETURN(reader_, OpenStream(*patch_, method_, frame));
    left_ = frame.raw_size;
    return absl::OkStatus();
  }
  absl::Status FinishFrame() {
    if (reader_ == nullptr) return absl::OkStatus();
    PF_RETURN_IF_ERROR(reader_->CheckFinished());
    reader_.reset();
    return absl::OkStatus();
  }

  const ByteSource* patch_;
  const PatchMethod method_;
  std::vector<StreamExtent> frames_;
  size_t next_ = 0;
  std::unique_ptr<StreamReader> reader_;
  uint64_t left_ = 0;  // Bytes of the current frame not yet read.
};

// The diff model decoders of a modeled patch's diff stream: one over all of
// it, or for HasDiffParts methods one per part, the second opened (after the
// first is checked finished and freed) at the first entry it codes.
class ModelParts {
 public:
  ModelParts(const ByteSource* patch, const PatchHeader& header)
      : patch_(patch), method_(header.method), stream_(header.streams[kDiffStream]) {}

  absl::Status Open() {
    if (!HasDiffParts(method_)) {
      OpenPart(stream_.offset, stream_.compressed_size);
      return absl::OkStatus();
    }
    PF_ASSIGN_OR_RETURN(parts_, ReadDiffParts(*patch_, stream_));
    OpenPart(stream_.offset + parts_.head_bytes, parts_.first_bytes);
    return absl::OkStatus();
  }
  // Called before the entry at `index` (0, 1, ...) is decoded.
  absl::Status StartEntry(uint64_t index) {
    if (!HasDiffParts(method_) || index != parts_.first_entries) return absl::OkStatus();
    return NextPart();
  }
  DiffModelDecoder* decoder() { return decoder_.get(); }
  // OK if every part was read exactly.
  absl::Status CheckFinished() {
    PF_RETURN_IF_ERROR(decoder_->CheckFinished());
    if (HasDiffParts(method_) && !second_ && SecondBytes() != 0) {
      return absl::DataLossError("corrupt patch: a diff stream part that no entry reads");
    }
    return absl::OkStatus();
  }

 private:
  uint64_t SecondBytes() const {
    return stream_.compressed_size - parts_.head_bytes - parts_.first_bytes;
  }
  void OpenPart(uint64_t offset, uint64_t length) {
    decoder_.reset();  // One model's tables at a time.
    decoder_ = std::make_unique<DiffModelDecoder>(patch_, offset, length,
                                                  DiffModelHashBits(method_));
  }
  absl::Status NextPart() {
    PF_RETURN_IF_ERROR(decoder_->CheckFinished());
    second_ = true;
    OpenPart(stream_.offset + parts_.head_bytes + parts_.first_bytes, SecondBytes());
    return absl::OkStatus();
  }

  const ByteSource* patch_;
  const PatchMethod method_;
  const StreamExtent stream_;
  DiffParts parts_;
  bool second_ = false;
  std::unique_ptr<DiffModelDecoder> decoder_;
};

struct ControlEntry {
  int64_t seek = 0;
  uint64_t diff_len = 0, extra_len = 0;
  bool exact = false;  // Sparse methods: the diff bytes are all zero, not coded.
};

absl::StatusOr<ControlEntry> ReadEntry(StreamReader* control, PatchMethod method) {
  ControlEntry e;
  PF_ASSIGN_OR_RETURN(uint64_t zigzag_seek, control->ReadVarint());
  PF_ASSIGN_OR_RETURN(e.diff_len, control->ReadVarint());
  PF_ASSIGN_OR_RETURN(e.extra_len, control->ReadVarint());
  e.seek = UnZigZag(zigzag_seek);
  if (IsSparse(method)) {
    e.exact = (e.diff_len & 1) != 0;
    e.diff_len >>= 1;
    if (e.exact && e.diff_len == 0) {
      return absl::DataLossError("corrupt patch: exact control entry without diff bytes");
    }
  }
  return e;
}

// Checks one control entry against the sizes and moves the cursors past it:
// `*old_pos` to the end of its diff region, `*new_pos` past its output.
// DataLoss if it leaves the files.
absl::Status CheckEntry(const ControlEntry& e, uint64_t old_size, uint64_t new_size,
                        uint64_t* old_pos, uint64_t* new_pos) {
  if ((e.seek < 0 && static_cast<uint64_t>(-(e.seek + 1)) >= *old_pos) ||
      (e.seek > 0 && static_cast<uint64_t>(e.seek) > old_size - *old_pos)) {
    return absl::DataLossError("corrupt patch: control seeks outside the old file");
  }
  *old_pos += e.seek;
  if (e.diff_len == 0 && e.extra_len == 0) {
    return absl::DataLossError("corrupt patch: empty control entry");
  }
  const uint64_t remaining = new_size - *new_pos;
  if (e.diff_len > old_size - *old_pos || e.diff_len > remaining ||
      e.extra_len > remaining - e.diff_len) {
    return absl::DataLossError("corrupt patch: control entry exceeds the file sizes");
  }
  *old_pos += e.diff_len;
  *new_pos += e.diff_len + e.extra_len;
  return absl::OkStatus();
}

// Opens the control stream; for predicted methods, checks and skips the byte
// naming the instruction set.
absl::StatusOr<std::unique_ptr<StreamReader>> OpenControl(const ByteSource& patch,
                                                         const PatchHeader& header,
                                                         InstructionSet* set) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<StreamReader> control,
                      OpenStream(patch, header.method, header.streams[kControlStream]));
  if (IsPredicted(header.method)) {
    char byte = 0;
    PF_RETURN_IF_ERROR(control->Read(&byte, 1));
    if (byte != static_cast<char>(InstructionSet::kX86_64) &&
        byte != static_cast<char>(InstructionSet::kArm64)) {
      return absl::DataLossError("corrupt patch: unknown instruction set");
    }
    *set = static_cast<InstructionSet>(byte);
  }
  return control;
}

// The map of a predicted patch's ops: its whole control stream (at most
// MaxPredictedControlBytes), checked.
absl::Status ReadReferenceMap(const ByteSource& patch, const PatchHeader& header,
                              ReferenceMap* map) {
  InstructionSet set;
  PF_ASSIGN_OR_RETURN(std::unique_ptr<StreamReader> control, OpenControl(patch, header, &set));
  uint64_t old_pos = 0, new_pos = 0;
  while (!control->AtEnd()) {
    PF_ASSIGN_OR_RETURN(ControlEntry e, ReadEntry(control.get(), header.method));
    const uint64_t new_at = new_pos;
    PF_RETURN_IF_ERROR(CheckEntry(e, header.old_size, header.new_size, &old_pos, &new_pos));
    map->Add(static_cast<int64_t>(old_pos - e.diff_len), static_cast<int64_t>(e.diff_len),
             static_cast<int64_t>(new_at));
  }
  map->Finish();
  return absl::OkStatus();
}

absl::Status ApplyStreams(OldReader* old, const ByteSource& patch, const PatchHeader& header,
                          HashingOutput* out) {
  const bool modeled = IsModeled(header.method);
  const bool predicted = IsPredicted(header.method);
  ReferenceMap map;
  if (predicted) PF_RETURN_IF_ERROR(ReadReferenceMap(patch, header, &map));
  InstructionSet set = InstructionSet::kX86_64;
  auto opened = OpenControl(patch, header, &set);
  if (!opened.ok()) {
    return absl::Status(opened.status().code(),
                        absl::StrCat("stream 0: ", opened.status().message()));
  }
  StreamReader& control = **opened;
  FrameSequence diff(&patch, header.method, header.DiffFrames());
  FrameSequence extra(&patch, header.method, header.ExtraFrames());
  ModelParts model(&patch, header);
  if (modeled) PF_RETURN_IF_ERROR(model.Open());
  uint64_t diff_remaining = 0;
  for (const StreamExtent& frame : header.DiffFrames()) diff_remaining += frame.raw_size;
  const uint64_t old_size = header.old_size;  // Apply checked old against it.
  const uint64_t new_size = header.new_size;
  ReferencePredictor predictor(&map, static_cast<int64_t>(old_size), set);
  std::string base;       // Predicted bases of the current region [base_at, base_at + size).
  uint64_t base_at = 0;
  std::string buf(kChunkBytes, '\0');
  uint64_t old_end = 0, new_end = 0;  // The cursors after the entries so far.
  for (uint64_t index = 0; !control.AtEnd(); ++index) {
    PF_ASSIGN_OR_RETURN(ControlEntry entry, ReadEntry(&control, header.method));
    if (modeled) PF_RETURN_IF_ERROR(model.StartEntry(index));
    const uint64_t new_at = new_end;
    PF_RETURN_IF_ERROR(CheckEntry(entry, old_size, new_size, &old_end, &new_end));
    const uint64_t diff_len = entry.diff_len, extra_len = entry.extra_len;
    const uint64_t old_pos = old_end - diff_len;
    if (predicted && diff_len > 0) {
      predictor.StartRegion(static_cast<int64_t>(old_pos), static_cast<int64_t>(new_at),
                            static_cast<int64_t>(diff_len));
      base.clear();
      base_at = 0;
    }
    if (diff_len > diff_remaining) {
      return absl::DataLossError("corrupt patch: diff stream ends early");
    }
    diff_remaining -= diff_len;
    const bool decoded = modeled && !entry.exact;  // By the diff model.
    for (uint64_t done = 0; done < diff_len;) {
      size_t n = std::min<uint64_t>(buf.size(), diff_len - done);
      const size_t lookahead =
          decoded ? std::min<uint64_t>(diff_len - done, n + kDiffModelLookahead) : n;
      const char* old_bytes;
      if (predicted) {
        // Bases are computed front to back: keep those from `done` on and
        // add up to the look-ahead (the predictor reads 7 old bytes further).
        base.erase(0, done - base_at);
        base_at = done;
        const uint64_t have = base.size();
        if (have < lookahead) {
          const uint64_t from = done + have;
          const uint64_t more = lookahead - have;
          const uint64_t readable = std::min<uint64_t>(
              diff_len - from, more + ReferencePredictor::kLookahead);
          PF_ASSIGN_OR_RETURN(absl::string_view piece, old->Read(old_pos + from, readable));
          base.resize(lookahead);
          predictor.Fill(static_cast<int64_t>(from), reinterpret_cast<const uint8_t*>(piece.data()),
                         static_cast<int64_t>(more), reinterpret_cast<uint8_t*>(&base[have]));
        }
        old_bytes = base.data();
      } else {
        PF_ASSIGN_OR_RETURN(absl::string_view old_piece, old->Read(old_pos + done, lookahead));
        old_bytes = old_piece.data();
      }
      if (entry.exact) {
        PF_RETURN_IF_ERROR(out->Append(absl::string_view(old_bytes, n)));
        done += n;
        continue;
      }
      if (modeled) {
        PF_RETURN_IF_ERROR(model.decoder()->Decode(reinterpret_cast<const uint8_t*>(old_bytes),
                                                  lookahead,
                                                  reinterpret_cast<uint8_t*>(buf.data()), n));
      } else {
        PF_RETURN_IF_ERROR(diff.Read(buf.data(), n));
      }
      for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>(buf[i] + old_bytes[i]);
      PF_RETURN_IF_ERROR(out->Append(absl::string_view(buf.data(), n)));
      done += n;
    }
    for (uint64_t done = 0; done < extra_len;) {
      size_t n = std::min<uint64_t>(buf.size(), extra_len - done);
      PF_RETURN_IF_ERROR(extra.Read(buf.data(), n));
      PF_RETURN_IF_ERROR(out->Append(absl::string_view(buf.data(), n)));
      done += n;
    }
  }
  if (out->written() != new_size) {
    return absl::DataLossError(absl::StrCat("corrupt patch: control covers ",
                                            out->written(), " of ", new_size, " bytes"));
  }
  PF_RETURN_IF_ERROR(control.CheckFinished());
  PF_RETURN_IF_ERROR(modeled ? model.CheckFinished() : diff.CheckFinished());
  PF_RETURN_IF_ERROR(extra.CheckFinished());
  return absl::OkStatus();
}

absl::Status ApplyPrefix(absl::string_view old_data, const ByteSource& patch,
                         const PatchHeader& header, HashingOutput* out) {
  PF_ASSIGN_OR_RETURN(
      std::unique_ptr<ZstdFrameReader> frame,
      OpenStream(patch, header.streams[0], old_data, kMaxPrefixWindowLog));
  std::string buf(kChunkBytes, '\0');
  while (out->written() < header.new_size) {
    size_t n = std::min<uint64_t>(buf.size(), header.new_size - out->written());
    PF_RETURN_IF_ERROR(frame->Read(buf.data(), n));
    PF_RETURN_IF_ERROR(out->Append(absl::string_view(buf.data(), n)));
  }
  return frame->CheckFinished();
}

// Both overloads: `old_in_memory` holds old's bytes when the caller has them
// (null otherwise), for a kZstdPrefix patch to use in place.
absl::Status ApplyFrom(const ByteSource& old, const absl::string_view* old_in_memory,
                       const ByteSource& patch, ByteSink* out, const ApplyOptions& options) {
  PF_ASSIGN_OR_RETURN(PatchHeader header, ReadPatchHeader(patch));
  if (header.new_size > options.max_output_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("patch would write ", header.new_size, " bytes, limit ",
                     options.max_output_bytes));
  }
  if (old.size() != header.old_size) {
    return absl::FailedPreconditionError(
        absl::StrCat("old file is ", old.size(), " bytes but the patch was made from a ",
                     header.old_size, "-byte file"));
  }
  const bool prefix = header.method == PatchMethod::kZstdPrefix;
  // Bounds the copy of old below. ReadPatchHeader caps new for this method at
  // kMaxPrefixMethodNewBytes, below the window.
  constexpr uint64_t kPrefixWindowBytes = uint64_t{1} << kMaxPrefixWindowLog;
  if (prefix && header.old_size > kPrefixWindowBytes - header.new_size) {
    return absl::DataLossError(absl::StrCat(
        "corrupt patch header: a zstd-prefix patch's old and new files (", header.old_size,
        " + ", header.new_size, " bytes) exceed its window of ", kPrefixWindowBytes,
        " bytes"));
  }
  PF_RETURN_IF_ERROR(VerifyStreamChecksums(patch, header));
  OldReader old_reader(&old);
  // kZstdPrefix references all of old: in place if the caller has it in
  // memory, else copied while hashing (bounded by the check above).
  std::string old_copy;
  const bool copy_old = prefix && old_in_memory == nullptr;
  PF_ASSIGN_OR_RETURN(Digest old_digest,
                      HashOld(old, &old_reader, copy_old ? &old_copy : nullptr));
  if (old_digest != header.old_digest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "old file's SHA-256 is ", DigestToHex(old_digest), " but the patch was made from ",
        DigestToHex(header.old_digest)));
  }
  HashingOutput output(out);
  absl::Status status =
      prefix ? ApplyPrefix(copy_old ? absl::string_view(old_copy) : *old_in_memory, patch,
                           header, &output)
             : ApplyStreams(&old_reader, patch, header, &output);
  PF_RETURN_IF_ERROR(status);
  Digest new_digest = output.Finish();
  if (new_digest != header.new_digest) {
    return absl::DataLossError(absl::StrCat("output's SHA-256 is ", DigestToHex(new_digest),
                                            " but the patch promises ",
                                            DigestToHex(header.new_digest)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PatchHeader> InspectPatch(const ByteSource& patch) {
  return ReadPatchHeader(patch);
}

absl::Status Apply(const ByteSource& old, const ByteSource& patch, ByteSink* out,
                   const ApplyOptions& options) {
  return ApplyFrom(old, nullptr, patch, out, options);
}

absl::Status Apply(absl::string_view old_data, const ByteSource& patch, ByteSink* out,
                   const ApplyOptions& options) {
  StringSource old(old_data);
  return ApplyFrom(old, &old_data, patch, out, options);
}

}  // namespace patchfarm
