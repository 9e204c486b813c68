#include "core/delta/model_parts.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "common/status_macros.h"
#include "core/delta/apply_entries.h"
#include "core/delta/lzma_codec.h"
#include "core/delta/varint.h"

namespace patchfarm {
namespace {

// The thread queues packed pieces in blocks of about this many bytes (a
// piece is never split), so that small pieces cost no allocation each.
constexpr size_t kBlockBytes = 64 << 10;

// What apply holds beside its decoders, the queue and the map: code,
// libraries, buffers, the block being filled (measured on biome 2.5.4 ->
// 2.5.15: 63.4 MiB in all, which the estimate puts at 63.5).
constexpr uint64_t kApplyBaseBytes = uint64_t{19} << 19;  // 9.5 MiB

// Run lengths from this on are stored as kLongRun and a varint of the rest.
constexpr uint64_t kLongRun = 15;

// Appends diff[0, n) to `packed` as zero runs and the bytes between them:
// per run, a byte whose high nibble holds the zeros and low nibble the
// literals (each varint-extended from kLongRun), then the literal bytes.
void PackZeroRuns(const uint8_t* diff, size_t n, std::string* packed) {
  for (size_t i = 0; i < n;) {
    const size_t zeros_from = i;
    while (i < n && diff[i] == 0) ++i;
    const size_t literals_from = i;
    while (i < n && diff[i] != 0) ++i;
    const uint64_t zeros = literals_from - zeros_from, literals = i - literals_from;
    packed->push_back(static_cast<char>(std::min(zeros, kLongRun) << 4 |
                                        std::min(literals, kLongRun)));
    if (zeros >= kLongRun) PutVarint(zeros - kLongRun, packed);
    if (literals >= kLongRun) PutVarint(literals - kLongRun, packed);
    packed->append(reinterpret_cast<const char*>(diff + literals_from), literals);
  }
}

// Reads one run length of PackZeroRuns: `nibble`, extended if kLongRun.
bool GetRun(uint64_t nibble, const char** p, const char* end, uint64_t* run) {
  if (nibble < kLongRun) {
    *run = nibble;
    return true;
  }
  if (!GetVarint(p, end, run) || *run > ~uint64_t{0} - kLongRun) return false;
  *run += kLongRun;
  return true;
}

// Unpacks the next n bytes PackZeroRuns made, from packed[*at, ...), into
// diff[0, n), and moves *at past them.
absl::Status UnpackZeroRuns(const std::string& packed, size_t* at, uint8_t* diff, size_t n) {
  const char* p = packed.data() + *at;
  const char* end = packed.data() + packed.size();
  size_t done = 0;
  while (done < n) {
    if (p == end) return absl::InternalError("apply: a piece decoded ahead is short");
    const uint8_t head = static_cast<uint8_t>(*p++);
    uint64_t zeros, literals;
    if (!GetRun(head >> 4, &p, end, &zeros) || !GetRun(head & 15, &p, end, &literals) ||
        zeros + literals == 0 || zeros > n - done || literals > n - done - zeros ||
        literals > static_cast<size_t>(end - p)) {
      return absl::InternalError("apply: a piece decoded ahead is malformed");
    }
    std::fill_n(diff + done, zeros, 0);
    std::copy_n(reinterpret_cast<const uint8_t*>(p), literals, diff + done + zeros);
    p += literals;
    done += zeros + literals;
  }
  *at = p - packed.data();
  return absl::OkStatus();
}

}  // namespace

// Decodes the second part of a diff stream on its own thread (see the header).
class AheadDecoder {
 public:
  AheadDecoder(const ByteSource* old, const ByteSource* patch, const PatchHeader& header,
               const ReferenceMap* map, uint64_t first_entries, int model_bits,
               uint64_t offset, uint64_t length)
      : old_(old), patch_(patch), header_(header), map_(map), first_entries_(first_entries),
        model_bits_(model_bits), offset_(offset), length_(length) {
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
    if (taken_at_ == taken_.bytes.size()) {  // The block in hand is spent.
      const size_t counted = taken_.counted;
      taken_ = Block();
      std::unique_lock<std::mutex> lock(mu_);
      held_ -= counted;
      cv_.notify_all();
      cv_.wait(lock, [this] { return !blocks_.empty() || done_; });
      if (blocks_.empty()) {
        if (!status_.ok()) return status_;
        return absl::DataLossError("corrupt patch: diff stream ends early");
      }
      taken_ = std::move(blocks_.front());
      blocks_.pop_front();
      starving_ = blocks_.empty();
      taken_at_ = 0;
    }
    return UnpackZeroRuns(taken_.bytes, &taken_at_, diff, n);
  }

  // After the last piece was taken: the thread's outcome (its part read
  // exactly, or why not).
  absl::Status Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    if (status_.ok() && (!blocks_.empty() || taken_at_ != taken_.bytes.size())) {
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
    DiffModelDecoder decoder(patch_, offset_, length_, model_bits_);
    std::string diff(kApplyChunkBytes, '\0');
    auto* diff_bytes = reinterpret_cast<uint8_t*>(diff.data());
    std::string block;  // Pieces packed since the last block was queued.
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
        if (stop_) return absl::CancelledError("apply stopped");
        if (block.empty()) block.reserve(kBlockBytes + kBlockBytes / 4);
        PackZeroRuns(diff_bytes, n, &block);
        // A block goes at kBlockBytes, or at once while the reader has none.
        if ((block.size() >= kBlockBytes || starving_) && !Put(&block)) {
          return absl::CancelledError("apply stopped");
        }
        done += n;
      }
    }
    if (!block.empty() && !Put(&block)) return absl::CancelledError("apply stopped");
    if (!reached) {
      return length_ == 0 ? absl::OkStatus()
                          : absl::DataLossError(
                                "corrupt patch: a diff stream part that no entry reads");
    }
    return decoder.CheckFinished();
  }

  // Queues `block` and empties it, waiting while that would hold more than
  // kAheadBytes. False if stopped.
  bool Put(std::string* block) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      const size_t counted = block->capacity();
      cv_.wait(lock, [this, counted] {
        return held_ + counted <= kAheadBytes || held_ == 0 || stop_;
      });
      if (stop_) return false;
      held_ += counted;
      blocks_.push_back({std::move(*block), counted});
      starving_ = false;
    }
    block->clear();
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
  const uint64_t first_entries_;
  const int model_bits_;
  const uint64_t offset_, length_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Packed pieces (PackZeroRuns), whole pieces to a block, and the bytes it
  // is counted for (its capacity when queued).
  struct Block {
    std::string bytes;
    size_t counted = 0;
  };
  std::deque<Block> blocks_;  // Guarded by mu_, like held_, done_ and status_.
  size_t held_ = 0;           // Counted bytes of blocks_ and taken_.
  bool done_ = false;         // Run returned; status_ is its outcome.
  absl::Status status_;
  // Set by the destructor (under mu_, read by the thread at every piece).
  std::atomic<bool> stop_{false};
  // Whether the queue ran empty under Take (set under mu_, read by the
  // thread at every piece): then pieces are queued one by one.
  std::atomic<bool> starving_{true};
  Block taken_;  // The block Take reads from, and where.
  size_t taken_at_ = 0;
  std::thread thread_;  // Last: started once the members above exist.
};

uint64_t AheadApplyBytes(const PatchHeader& header, int model_bits, uint64_t map_bytes) {
  auto dictionary = [&header](int stream) {
    const uint64_t raw = header.streams[stream].raw_size;
    return std::min<uint64_t>(raw, LzmaDictionaryBytes(raw));
  };
  return kApplyBaseBytes + 2 * DiffModelBytes(model_bits) +
         2 * dictionary(kControlStream) + dictionary(kExtraStream) + kAheadBytes + map_bytes;
}

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
  PF_ASSIGN_OR_RETURN(parts_, ReadDiffParts(*patch_, stream_, header_.method));
  OpenPart(stream_.offset + parts_.head_bytes, parts_.first_bytes);
  if (threads_ >= 2 && SecondBytes() > 0 &&
      AheadApplyBytes(header_, parts_.model_bits, map_->bytes()) <= kApplyMemoryBytes) {
    ahead_ = std::make_unique<AheadDecoder>(
        old_, patch_, header_, map_, parts_.first_entries, parts_.model_bits,
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
  decoder_ = std::make_unique<DiffModelDecoder>(
      patch_, offset, length,
      HasDiffParts(header_.method) ? parts_.model_bits : FixedModelBits(header_.method));
}

}  // namespace patchfarm
