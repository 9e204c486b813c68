#include "core/delta/bounded_streams.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace patchfarm {

absl::Status ReadExactly(const ByteSource& source, uint64_t offset, char* buf, size_t n,
                         const char* what) {
  PF_ASSIGN_OR_RETURN(size_t got, source.ReadAt(offset, buf, n));
  if (got != n) {
    return absl::FailedPreconditionError(absl::StrCat("the ", what, " file changed while diffed"));
  }
  return absl::OkStatus();
}

absl::Status ForEachPiece(const ByteSource& source,
                          const std::function<absl::Status(absl::string_view)>& fn) {
  std::string buf(kBoundedPiece, '\0');
  for (uint64_t done = 0; done < source.size();) {
    PF_ASSIGN_OR_RETURN(size_t got, source.ReadAt(done, buf.data(), buf.size()));
    if (got == 0) return absl::InternalError("scratch file ended early");
    PF_RETURN_IF_ERROR(fn(absl::string_view(buf.data(), got)));
    done += got;
  }
  return absl::OkStatus();
}

StreamExtent ExtentOf(const ZstdStreamWriter& writer, uint64_t raw_size) {
  return {0, writer.compressed_size(), raw_size, FrameChecksum(writer.frame_digest())};
}

absl::StatusOr<StreamExtent> CompressSource(const ByteSource& raw, const ZstdOptions& zstd,
                                            ByteSink* out) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ZstdStreamWriter> writer,
                      ZstdStreamWriter::Create(raw.size(), zstd, out));
  PF_RETURN_IF_ERROR(
      ForEachPiece(raw, [&](absl::string_view piece) { return writer->Write(piece); }));
  PF_RETURN_IF_ERROR(writer->Finish());
  return ExtentOf(*writer, raw.size());
}

absl::StatusOr<std::vector<StreamExtent>> CompressInRuns(const ByteSource& raw,
                                                         const ZstdOptions& zstd,
                                                         size_t max_frames, ByteSink* out) {
  // 1. Which pieces zstd's fastest level cannot shrink by 2%.
  std::vector<bool> stored;
  PF_RETURN_IF_ERROR(ForEachPiece(raw, [&](absl::string_view piece) {
    PF_ASSIGN_OR_RETURN(bool incompressible, Incompressible(piece));
    stored.push_back(incompressible);
    return absl::OkStatus();
  }));
  // 2. Runs of pieces of one kind; short stored runs join their neighbours.
  struct Run {
    bool stored;
    size_t pieces;
  };
  std::vector<Run> runs;
  for (size_t min_stored = 4;; min_stored *= 2) {
    runs.clear();
    for (size_t i = 0; i < stored.size();) {
      size_t j = i;
      while (j < stored.size() && stored[j] == stored[i]) ++j;
      const bool kind = stored[i] && j - i >= min_stored;
      if (!runs.empty() && runs.back().stored == kind) {
        runs.back().pieces += j - i;
      } else {
        runs.push_back({kind, j - i});
      }
      i = j;
    }
    if (runs.size() <= std::max<size_t>(max_frames, 1)) break;
  }
  if (runs.empty()) runs.push_back({false, 0});  // An empty stream: one empty frame.
  // 3. A frame per run.
  std::vector<StreamExtent> frames;
  std::string buf(kBoundedPiece, '\0');
  uint64_t at = 0;
  for (const Run& run : runs) {
    const uint64_t size =
        std::min<uint64_t>(raw.size() - at, uint64_t{run.pieces} * kBoundedPiece);
    ZstdOptions options = zstd;
    if (run.stored) {
      options.level = 1;
      options.workers = 0;
    }
    PF_ASSIGN_OR_RETURN(std::unique_ptr<ZstdStreamWriter> writer,
                        ZstdStreamWriter::Create(size, options, out));
    for (uint64_t done = 0; done < size;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
      PF_RETURN_IF_ERROR(ReadExactly(raw, at + done, buf.data(), n, "scratch"));
      PF_RETURN_IF_ERROR(writer->Write(absl::string_view(buf.data(), n)));
      done += n;
    }
    PF_RETURN_IF_ERROR(writer->Finish());
    frames.push_back(ExtentOf(*writer, size));
    at += size;
  }
  return frames;
}

absl::StatusOr<std::string> EmptyFrame(StreamExtent* extent) {
  std::string frame;
  StringSink sink(&frame);
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ZstdStreamWriter> writer,
                      ZstdStreamWriter::Create(0, ZstdOptions(), &sink));
  PF_RETURN_IF_ERROR(writer->Finish());
  *extent = ExtentOf(*writer, 0);
  return frame;
}

absl::Status OpCollector::Add(uint64_t old_pos, uint64_t diff_len, uint64_t extra_len) {
  ops_.push_back({new_pos_, static_cast<int64_t>(old_pos), static_cast<int64_t>(diff_len),
                  static_cast<int64_t>(extra_len)});
  new_pos_ += static_cast<int64_t>(diff_len + extra_len);
  return absl::OkStatus();
}

absl::Status ControlWriter::Add(uint64_t old_pos, uint64_t diff_len, uint64_t extra_len) {
  encoder_.Add(old_pos, diff_len, extra_len);
  ++ops_;
  diff_bytes_ += diff_len;
  extra_bytes_ += extra_len;
  return buf_.size() >= kBoundedPiece ? Flush() : absl::OkStatus();
}

absl::Status ControlWriter::Flush() {
  raw_bytes_ += buf_.size();
  absl::Status status = out_->Append(buf_);
  buf_.clear();
  return status;
}

absl::StatusOr<uint64_t> ControlReader::Next() {
  if (end_ - at_ < 10 && offset_ < source_->size()) {
    buf_.erase(0, at_);
    end_ -= at_;
    at_ = 0;
    buf_.resize(end_ + kBoundedPiece);
    PF_ASSIGN_OR_RETURN(size_t got, source_->ReadAt(offset_, buf_.data() + end_, kBoundedPiece));
    offset_ += got;
    end_ += got;
  }
  uint64_t value = 0;
  for (int shift = 0; at_ < end_ && shift < 64; shift += 7) {
    const auto byte = static_cast<uint8_t>(buf_[at_++]);
    value |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) return value;
  }
  return absl::InternalError("scratch control stream is malformed");
}

StreamFeed::StreamFeed(ZstdStreamWriter* writer, bool threaded) : writer_(writer) {
  if (threaded) thread_ = std::thread([this] { Loop(); });
}

absl::Status StreamFeed::Append(absl::string_view data) {
  if (!thread_.joinable()) return writer_->Write(data);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < kQueuedPieces || !status_.ok(); });
  if (!status_.ok()) return status_;
  queue_.emplace_back(data);
  cv_.notify_all();
  return absl::OkStatus();
}

absl::Status StreamFeed::Close() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void StreamFeed::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
    if (queue_.empty()) return;
    std::string piece = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
    lock.unlock();
    absl::Status status = writer_->Write(piece);
    lock.lock();
    if (!status.ok() && status_.ok()) {
      status_ = status;
      queue_.clear();
      cv_.notify_all();
    }
  }
}

}  // namespace patchfarm
