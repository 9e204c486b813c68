#include "core/delta/apply.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "core/delta/apply_entries.h"
#include "core/delta/diff_model.h"
#include "core/delta/model_parts.h"
#include "core/delta/reference_predictor.h"
#include "core/delta/zstd_codec.h"

namespace patchfarm {
namespace {

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

// FailedPrecondition unless old's SHA-256 `digest` is the patch's, `want`.
absl::Status CheckOldDigest(const Digest& digest, const Digest& want) {
  if (digest == want) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("old file's SHA-256 is ", DigestToHex(digest),
                                                    " but the patch was made from ",
                                                    DigestToHex(want)));
}

// Checks old's SHA-256 against the patch's: on a thread of its own, so that
// old is hashed while new is written (old's bytes are then read once from
// the disk for both, through the page cache, where a huge old file was read
// twice), or at once.
class OldCheck {
 public:
  // Old's digest `known` already (ApplyOptions::old_digest): nothing to hash.
  static OldCheck Known(const Digest& known, const Digest& want) {
    OldCheck check;
    check.verdict_ = CheckOldDigest(known, want);
    return check;
  }
  OldCheck(const ByteSource* old, const Digest& want, bool concurrent) {
    auto check = [old, want]() -> absl::Status {
      OldReader reader(old);
      PF_ASSIGN_OR_RETURN(Digest digest, HashOld(*old, &reader, nullptr));
      return CheckOldDigest(digest, want);
    };
    if (concurrent) {
      running_ = std::async(std::launch::async, check);
    } else {
      verdict_ = check();
    }
  }
  // The verdict once known, OK until then: lets a writer stop early.
  absl::Status Poll() {
    if (running_.valid() &&
        running_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      verdict_ = running_.get();
    }
    return verdict_;
  }
  // Waits for the verdict.
  absl::Status Wait() {
    if (running_.valid()) verdict_ = running_.get();
    return verdict_;
  }

 private:
  OldCheck() = default;

  absl::Status verdict_;
  std::future<absl::Status> running_;
};

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

// Writes new from old (read through `old`, or by the thread that decodes a
// diff stream's second part ahead, from `old_source`) and the patch's streams;
// stops at the first entry after `old_check` finds old is not the patch's.
absl::Status ApplyStreams(const ByteSource& old_source, OldReader* old,
                          const ByteSource& patch, const PatchHeader& header, int threads,
                          OldCheck* old_check, HashingOutput* out) {
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
  ModelParts model(&old_source, &patch, header, &map, threads);
  if (modeled) PF_RETURN_IF_ERROR(model.Open());
  uint64_t diff_remaining = 0;
  for (const StreamExtent& frame : header.DiffFrames()) diff_remaining += frame.raw_size;
  const uint64_t old_size = header.old_size;  // Apply checked old against it.
  const uint64_t new_size = header.new_size;
  RegionBytes region(old, &map, old_size, set, predicted);
  std::string buf(kApplyChunkBytes, '\0');
  uint64_t old_end = 0, new_end = 0;  // The cursors after the entries so far.
  for (uint64_t index = 0; !control.AtEnd(); ++index) {
    PF_RETURN_IF_ERROR(old_check->Poll());
    PF_ASSIGN_OR_RETURN(ControlEntry entry, ReadEntry(&control, header.method));
    if (modeled) PF_RETURN_IF_ERROR(model.StartEntry(index));
    const uint64_t new_at = new_end;
    PF_RETURN_IF_ERROR(CheckEntry(entry, old_size, new_size, &old_end, &new_end));
    const uint64_t diff_len = entry.diff_len, extra_len = entry.extra_len;
    if (diff_len > 0) region.Start(old_end - diff_len, new_at, diff_len);
    if (diff_len > diff_remaining) {
      return absl::DataLossError("corrupt patch: diff stream ends early");
    }
    diff_remaining -= diff_len;
    const bool decoded = modeled && !entry.exact;  // By the diff model.
    for (uint64_t done = 0; done < diff_len;) {
      size_t n = std::min<uint64_t>(buf.size(), diff_len - done);
      const size_t lookahead =
          decoded ? std::min<uint64_t>(diff_len - done, n + kDiffModelLookahead) : n;
      PF_ASSIGN_OR_RETURN(const char* old_bytes, region.At(done, lookahead));
      if (entry.exact) {
        PF_RETURN_IF_ERROR(out->Append(absl::string_view(old_bytes, n)));
        done += n;
        continue;
      }
      if (modeled) {
        PF_RETURN_IF_ERROR(model.Decode(reinterpret_cast<const uint8_t*>(old_bytes), lookahead,
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
  ZstdFrameReader::Limits limits;
  limits.content_size = header.streams[0].raw_size;
  limits.max_window_log = kMaxPrefixWindowLog;
  limits.prefix = old_data;
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ZstdFrameReader> frame,
                      ZstdFrameReader::Open(&patch, header.streams[0].offset,
                                            header.streams[0].compressed_size, limits));
  std::string buf(kApplyChunkBytes, '\0');
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
  HashingOutput output(out);
  absl::Status status;
  if (options.old_digest) {  // Whatever the method: refused before output.
    PF_RETURN_IF_ERROR(CheckOldDigest(*options.old_digest, header.old_digest));
  }
  if (prefix) {
    // kZstdPrefix references all of old: in place if the caller has it in
    // memory, else copied while hashing (bounded by the check above).
    std::string old_copy;
    const bool copy_old = old_in_memory == nullptr;
    PF_ASSIGN_OR_RETURN(Digest old_digest,
                        HashOld(old, &old_reader, copy_old ? &old_copy : nullptr));
    PF_RETURN_IF_ERROR(CheckOldDigest(old_digest, header.old_digest));
    status = ApplyPrefix(copy_old ? absl::string_view(old_copy) : *old_in_memory, patch,
                         header, &output);
  } else {
    OldCheck old_check =
        options.old_digest.has_value()
            ? OldCheck::Known(*options.old_digest, header.old_digest)
            : OldCheck(&old, header.old_digest, /*concurrent=*/options.threads > 1);
    PF_RETURN_IF_ERROR(old_check.Poll());  // Without threads, known before any output.
    status = ApplyStreams(old, &old_reader, patch, header, options.threads, &old_check,
                          &output);
    // A wrong old file explains any other failure: it is the error reported.
    PF_RETURN_IF_ERROR(old_check.Wait());
  }
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
