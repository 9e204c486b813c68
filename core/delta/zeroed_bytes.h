// A fixed-size byte buffer that starts as zeros, mapped anonymously: a page
// is resident only once written (reading an unwritten page maps the kernel's
// shared zero page). Made for the diff stream of a diff, most of whose bytes
// are zero and which is made whole before it is coded, and for the diff
// model's tables (cm.h's Counters).
// Objects are movable, not copyable, and single-threaded.
#ifndef PATCHFARM_CORE_DELTA_ZEROED_BYTES_H_
#define PATCHFARM_CORE_DELTA_ZEROED_BYTES_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace patchfarm {

class ZeroedBytes {
 public:
  // Pages are 4 KiB ones unless huge pages are asked for.
  enum class Pages { kSmall, kHuge };

  ZeroedBytes() = default;
  // n zero bytes. With Pages::kHuge and n of 2 MiB or more, they start on a
  // 2 MiB boundary and ask the kernel for huge pages (madvise, where
  // transparent huge pages are on), for data read at random; write such a
  // buffer first, as a first read maps the shared zero page, which many
  // kernels split into 4 KiB pages at the first write. Otherwise none are
  // taken, even where the kernel would give them unasked (one written byte
  // would make 2 MiB resident). Throws std::bad_alloc if the bytes cannot be
  // mapped.
  explicit ZeroedBytes(size_t n, Pages pages = Pages::kSmall);
  ~ZeroedBytes();
  ZeroedBytes(ZeroedBytes&& other) noexcept;
  ZeroedBytes& operator=(ZeroedBytes&& other) noexcept;
  ZeroedBytes(const ZeroedBytes&) = delete;
  ZeroedBytes& operator=(const ZeroedBytes&) = delete;

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  absl::string_view view() const { return absl::string_view(data_, size_); }

 private:
  void Unmap();

  char* data_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;  // Where data_ lies: larger when aligned to 2 MiB.
  size_t mapped_bytes_ = 0;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_ZEROED_BYTES_H_
