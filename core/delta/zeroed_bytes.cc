#include "core/delta/zeroed_bytes.h"

#include <sys/mman.h>

#include <new>
#include <utility>

namespace patchfarm {

ZeroedBytes::ZeroedBytes(size_t n) : size_(n) {
  if (n == 0) return;
  void* mapping = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) throw std::bad_alloc();
  // Where transparent huge pages are always on, one written byte would make
  // 2 MiB resident. A hint: may fail.
  madvise(mapping, n, MADV_NOHUGEPAGE);
  data_ = static_cast<char*>(mapping);
}

ZeroedBytes::~ZeroedBytes() {
  if (data_ != nullptr) munmap(data_, size_);
}

ZeroedBytes::ZeroedBytes(ZeroedBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

ZeroedBytes& ZeroedBytes::operator=(ZeroedBytes&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) munmap(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

}  // namespace patchfarm
