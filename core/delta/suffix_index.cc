#include "core/delta/suffix_index.h"

#include <divsufsort.h>
#include <divsufsort64.h>

#include <cstring>
#include <limits>

namespace patchfarm {
namespace {

constexpr int kBuckets = 1 << 16;

inline int Bucket(const char* p) {
  return (static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]);
}

}  // namespace

int64_t CommonPrefix(const char* a, const char* b, int64_t max_len) {
  int64_t i = 0;
  while (i + 8 <= max_len) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    if (x != y) return i + __builtin_ctzll(x ^ y) / 8;
    i += 8;
  }
  while (i < max_len && a[i] == b[i]) ++i;
  return i;
}

absl::StatusOr<SuffixIndex> SuffixIndex::Build(absl::string_view old) {
  SuffixIndex index;
  index.old_ = old;
  if (old.empty()) return index;
  const auto* text = reinterpret_cast<const sauchar_t*>(old.data());
  if (old.size() < static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    index.sa32_.resize(old.size());
    if (divsufsort(text, index.sa32_.data(), static_cast<saidx_t>(old.size())) != 0) {
      return absl::ResourceExhaustedError("suffix sort of the old file failed");
    }
  } else {
    index.sa64_.resize(old.size());
    if (divsufsort64(text, index.sa64_.data(), static_cast<saidx64_t>(old.size())) != 0) {
      return absl::ResourceExhaustedError("suffix sort of the old file failed");
    }
  }
  index.BuildBuckets();
  return index;
}

std::string SuffixIndex::Serialize() const {
  if (sa32_.size() != old_.size()) return std::string();
  return std::string(reinterpret_cast<const char*>(sa32_.data()), sa32_.size() * sizeof(int32_t));
}

absl::StatusOr<SuffixIndex> SuffixIndex::Deserialize(absl::string_view old,
                                                     absl::string_view bytes) {
  if (old.empty() || old.size() >= static_cast<uint64_t>(std::numeric_limits<int32_t>::max()) ||
      bytes.size() != old.size() * sizeof(int32_t)) {
    return absl::DataLossError("cached suffix array does not fit the old file");
  }
  SuffixIndex index;
  index.old_ = old;
  index.sa32_.resize(old.size());
  std::memcpy(index.sa32_.data(), bytes.data(), bytes.size());
  const int32_t n = static_cast<int32_t>(old.size());
  for (int32_t v : index.sa32_) {
    if (v < 0 || v >= n) return absl::DataLossError("cached suffix array out of range");
  }
  index.BuildBuckets();
  return index;
}

void SuffixIndex::BuildBuckets() {
  const int64_t n = static_cast<int64_t>(old_.size());
  std::vector<int64_t> count(kBuckets, 0);
  for (int64_t i = 0; i + 1 < n; ++i) ++count[Bucket(old_.data() + i)];
  bucket_.assign(kBuckets + 1, 0);
  const int last_byte = static_cast<uint8_t>(old_[n - 1]);
  int64_t at = 0;
  for (int p = 0; p < kBuckets; ++p) {
    // The 1-byte suffix sorts just before every longer suffix with its first byte.
    if ((p & 0xff) == 0 && (p >> 8) == last_byte) ++at;
    bucket_[p] = at;
    at += count[p];
  }
  bucket_[kBuckets] = at;
}

template <typename Index>
int64_t SuffixIndex::Search(const std::vector<Index>& sa, absl::string_view needle,
                            int64_t* pos) const {
  const int64_t n = static_cast<int64_t>(old_.size());
  const int64_t m = static_cast<int64_t>(needle.size());
  int64_t lo = 0, hi = n - 1;  // Inclusive range of the suffix array.
  if (m >= 2) {
    int b = Bucket(needle.data());
    if (bucket_[b] < bucket_[b + 1]) {
      lo = bucket_[b];
      hi = bucket_[b + 1] - 1;
    }
  }
  auto match_len = [&](int64_t k) {
    int64_t start = sa[k];
    return CommonPrefix(old_.data() + start, needle.data(), std::min(n - start, m));
  };
  while (hi - lo >= 2) {
    int64_t mid = lo + (hi - lo) / 2;
    int64_t start = sa[mid];
    int64_t len = std::min(n - start, m);
    int cmp = std::memcmp(old_.data() + start, needle.data(), len);
    if (cmp < 0 || (cmp == 0 && len < m)) {  // A proper prefix sorts first.
      lo = mid;
    } else {
      hi = mid;
    }
  }
  int64_t x = match_len(lo), y = match_len(hi);
  if (x >= y) {
    *pos = sa[lo];
    return x;
  }
  *pos = sa[hi];
  return y;
}

int64_t SuffixIndex::LongestMatch(absl::string_view needle, int64_t* pos) const {
  *pos = 0;
  if (old_.empty() || needle.empty()) return 0;
  return sa32_.empty() ? Search(sa64_, needle, pos) : Search(sa32_, needle, pos);
}

}  // namespace patchfarm
