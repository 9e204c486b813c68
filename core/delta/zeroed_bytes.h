// A fixed-size byte buffer that starts as zeros, mapped anonymously in 4 KiB
// pages: a page is resident only once written (reading an unwritten page
// maps the kernel's shared zero page). Made for the diff stream of a diff,
// most of whose bytes are zero and which is made whole before it is coded.
// Objects are movable, not copyable, and single-threaded.
#ifndef PATCHFARM_CORE_DELTA_ZEROED_BYTES_H_
#define PATCHFARM_CORE_DELTA_ZEROED_BYTES_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace patchfarm {

class ZeroedBytes {
 public:
  ZeroedBytes() = default;
  // n zero bytes. Throws std::bad_alloc if they cannot be mapped.
  explicit ZeroedBytes(size_t n);
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
  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_ZEROED_BYTES_H_
