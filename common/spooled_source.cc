#include "common/spooled_source.h"

#include <algorithm>

#include "common/status_macros.h"

namespace patchfarm {

absl::StatusOr<std::unique_ptr<SpooledSource>> SpooledSource::Create(
    const ByteSource* source, const std::string& scratch_dir, uint64_t max_spooled_bytes) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ScratchFile> spool, ScratchFile::Create(scratch_dir));
  return std::unique_ptr<SpooledSource>(
      new SpooledSource(source, std::move(spool), max_spooled_bytes));
}

uint64_t SpooledSource::bytes_reread() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_reread_;
}

absl::StatusOr<size_t> SpooledSource::ReadKept(uint64_t offset, char* buf, size_t n) const {
  size_t done = 0;
  while (done < n) {
    const uint64_t at = offset + done;
    auto it = kept_.upper_bound(at);  // The last range starting at or before `at`.
    if (it == kept_.begin()) break;
    --it;
    if (it->second.end <= at) break;
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n - done, it->second.end - at));
    const uint64_t spool_at = it->second.spool_begin + (at - it->first);
    PF_ASSIGN_OR_RETURN(size_t got, spool_->ReadAt(spool_at, buf + done, take));
    if (got != take) return absl::DataLossError("scratch file shorter than what it kept");
    done += take;
  }
  return done;
}

absl::StatusOr<size_t> SpooledSource::ReadAt(uint64_t offset, char* buf, size_t n) const {
  if (offset >= size()) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, size() - offset));
  size_t kept = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_) {
      absl::StatusOr<size_t> read = ReadKept(offset, buf, n);
      if (read.ok()) {
        kept = *read;
        bytes_reread_ += kept;
      } else {
        failed_ = true;  // The scratch file failed (a full disk): the source serves all.
      }
    }
  }
  if (kept == n) return n;
  const uint64_t at = offset + kept;
  const size_t rest = n - kept;
  PF_ASSIGN_OR_RETURN(size_t got, source_->ReadAt(at, buf + kept, rest));
  if (got != rest) return kept + got;  // The source ended early: nothing kept.
  if (rest >= kMinSpooledBytes) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_ && spool_->size() + rest <= max_spooled_bytes_) {
      const uint64_t spool_begin = spool_->size();
      if (spool_->Append(absl::string_view(buf + kept, rest)).ok()) {
        Kept& range = kept_[at];
        if (range.end < at + rest) range = Kept{at + rest, spool_begin};
      } else {
        failed_ = true;
      }
    }
  }
  return n;
}

}  // namespace patchfarm
