#include "core/delta/model_parts.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "common/status_macros.h"
#include "core/delta/apply_entries.h"
#include "core/delta/varint.h"

namespace patchfarm {
namespace {

// diff[0, n) as zero runs and the bytes between them: varints (zeros,
// literals) each followed by that many literal bytes.
std::string PackZeroRuns(const uint8_t* diff, size_t n) {
  std::string packed;
  for (size_t i = 0; i < n;) {
    const size_t zeros_from = i;
    while (i < n && diff[i] == 0) ++i;
    const size_t literals_from = i;
    while (i < n && diff[i] != 0) ++i;
    PutVarint(literals_from - zeros_from, &packed);
    PutVarint(i - literals_from, &packed);
    packed.append(reinterpret_cast<const char*>(diff + literals_from), i - literals_from);
  }
  return packed;
}

// Unpacks what PackZeroRuns made of exactly n bytes into diff[0, n).
absl::Status UnpackZeroRuns(const std::string& packed, uint8_t* diff, size_t n) {
  const char* p = packed.data();
  const char* end = p + packed.size();
  size_t at = 0;
  while (p < end) {
    uint64_t zeros, literals;
    if (!GetVarint(&p, end, &zeros) || !GetVarint(&p, end, &literals) ||
        zeros > n - at || literals > n - at - zeros ||
        literals > static_cast<size_t>(end - p)) {
      return absl::InternalError("apply: a piece decoded ahead is malformed");
    }
    std::fill_n(diff + at, zeros, 0);
    std::copy_n(reinterpret_cast<const uint8_t*>(p), literals, diff + at + zeros);
    p += literals;
    at += zeros + literals;
  }
  if (at != n) return absl::InternalError("apply: a piece decoded ahead has the wrong size");
  return absl::OkStatus();
}

}  // namespace

// Decodes the second part of a diff stream on its own thread (see the header).
class AheadDecoder {
 public:
  AheadDecoder(const ByteSource* old, const ByteSource* patch, const PatchHeader& header,
               const ReferenceMap* map, uint64_t first_entries, uint64_t offset,
               uint64_t length)
      : old_(old), patch_(patch), header_(header), map_(map), first_entries_(first_entries),
        offset_(offset), length_(length) {
    thread_ = std::thread([this] { Finish(Run()); });
  }

  ~AheadDecoder() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Fills diff[0, n) with the next piece, waiting for it; the thread's error
  // if it stopped before that piece.
  absl::Status Take(uint8_t* diff, size_t n) {
    std::string piece;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !pieces_.empty() || done_; });
      if (pieces_.empty()) {
        if (!status_.ok()) return status_;
        return absl::DataLossError("corrupt patch: diff stream ends early");
      }
      piece = std::move(pieces_.front());
      pieces_.pop_front();
      held_ -= piece.size();
    }
    cv_.notify_all();
    return UnpackZeroRuns(piece, diff, n);
  }

  // After the last piece was taken: the thread's outcome (its part read
  // exactly, or why not).
  absl::Status Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    if (status_.ok() && !pieces_.empty()) {
      return absl::DataLossError("corrupt patch: diff stream has bytes left over");
    }
    return status_;
  }

 private:
  absl::Status Run() {
    const PatchMethod method = header_.method;
    InstructionSet set = InstructionSet::kX86_64;
    PF_ASSIGN_OR_RETURN(std::unique_ptr<StreamReader> control,
                        OpenControl(*patch_, header_, &set));
    OldReader old(old_);
    RegionBytes region(&old, map_, header_.old_size, set, IsPredicted(method));
    DiffModelDecoder decoder(patch_, offset_, length_, DiffModelHashBits(method));
    std::string diff(kApplyChunkBytes, '\0');
    auto* diff_bytes = reinterpret_cast<uint8_t*>(diff.data());
    uint64_t old_end = 0, new_end = 0;
    bool reached = false;  // An entry of the second part was read.
    for (uint64_t index = 0; !control->AtEnd(); ++index) {
      PF_ASSIGN_OR_RETURN(ControlEntry entry, ReadEntry(control.get(), method));
      const uint64_t new_at = new_end;
      PF_RETURN_IF_ERROR(
          CheckEntry(entry, header_.old_size, header_.new_size, &old_end, &new_end));
      if (index < first_entries_) continue;
      reached = true;
      if (entry.exact || entry.diff_len == 0) continue;
      const uint64_t diff_len = entry.diff_len;
      region.Start(old_end - diff_len, new_at, diff_len);
      for (uint64_t done = 0; done < diff_len;) {
        const size_t n = std::min<uint64_t>(kApplyChunkBytes, diff_len - done);
        const size_t lookahead = std::min<uint64_t>(diff_len - done, n + kDiffModelLookahead);
        PF_ASSIGN_OR_RETURN(const char* old_bytes, region.At(done, lookahead));
        PF_RETURN_IF_ERROR(decoder.Decode(reinterpret_cast<const uint8_t*>(old_bytes),
                                          lookahead, diff_bytes, n));
        if (!Put(PackZeroRuns(diff_bytes, n))) return absl::CancelledError("apply stopped");
        done += n;
      }
    }
    if (!reached) {
      return length_ == 0 ? absl::OkStatus()
                          : absl::DataLossError(
                                "corrupt patch: a diff stream part that no entry reads");
    }
    return decoder.CheckFinished();
  }

  // Queues a piece, waiting while kAheadBytes are held. False if stopped.
  bool Put(std::string piece) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return held_ < kAheadBytes || stop_; });
      if (stop_) return false;
      held_ += piece.size();
      pieces_.push_back(std::move(piece));
    }
    cv_.notify_all();
    return true;
  }

  void Finish(absl::Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      status_ = std::move(status);
      done_ = true;
    }
    cv_.notify_all();
  }

  const ByteSource* old_;
  const ByteSource* patch_;
  const PatchHeader& header_;
  const ReferenceMap* map_;
  const uint64_t first_entries_, offset_, length_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> pieces_;  // Guarded by mu_, like the four below.
  size_t held_ = 0;                 // Bytes in pieces_.
  bool stop_ = false;               // Set by the destructor.
  bool done_ = false;               // Run returned; status_ is its outcome.
  absl::Status status_;
  std::thread thread_;  // Last: started once the members above exist.
};

ModelParts::ModelParts(const ByteSource* old, const ByteSource* patch,
                       const PatchHeader& header, const ReferenceMap* map, int threads)
    : old_(old), patch_(patch), header_(header), map_(map), threads_(threads),
      stream_(header.streams[kDiffStream]) {}

ModelParts::~ModelParts() = default;

absl::Status ModelParts::Open() {
  if (!HasDiffParts(header_.method)) {
    OpenPart(stream_.offset, stream_.compressed_size);
    return absl::OkStatus();
  }
  PF_ASSIGN_OR_RETURN(parts_, ReadDiffParts(*patch_, stream_));
  OpenPart(stream_.offset + parts_.head_bytes, parts_.first_bytes);
  if (threads_ >= 2 && SecondBytes() > 0) {
    ahead_ = std::make_unique<AheadDecoder>(
        old_, patch_, header_, map_, parts_.first_entries,
        stream_.offset + parts_.head_bytes + parts_.first_bytes, SecondBytes());
  }
  return absl::OkStatus();
}

absl::Status ModelParts::StartEntry(uint64_t index) {
  if (!HasDiffParts(header_.method) || index != parts_.first_entries) return absl::OkStatus();
  PF_RETURN_IF_ERROR(decoder_->CheckFinished());
  second_ = true;
  decoder_.reset();  // One model's tables at a time on this thread.
  if (ahead_ == nullptr) {
    OpenPart(stream_.offset + parts_.head_bytes + parts_.first_bytes, SecondBytes());
  }
  return absl::OkStatus();
}

absl::Status ModelParts::Decode(const uint8_t* old_bytes, size_t lookahead, uint8_t* diff,
                                size_t n) {
  if (second_ && ahead_ != nullptr) return ahead_->Take(diff, n);
  return decoder_->Decode(old_bytes, lookahead, diff, n);
}

absl::Status ModelParts::CheckFinished() {
  if (decoder_ != nullptr) PF_RETURN_IF_ERROR(decoder_->CheckFinished());
  if (ahead_ != nullptr) return ahead_->Wait();
  if (HasDiffParts(header_.method) && !second_ && SecondBytes() != 0) {
    return absl::DataLossError("corrupt patch: a diff stream part that no entry reads");
  }
  return absl::OkStatus();
}

uint64_t ModelParts::SecondBytes() const {
  return stream_.compressed_size - parts_.head_bytes - parts_.first_bytes;
}

void ModelParts::OpenPart(uint64_t offset, uint64_t length) {
  decoder_ = std::make_unique<DiffModelDecoder>(patch_, offset, length,
                                                DiffModelHashBits(header_.method));
}

}  // namespace patchfarm
