#include "core/delta/zeroed_bytes.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>
#include <utility>

namespace patchfarm {

ZeroedBytes::ZeroedBytes(size_t n, Pages pages) : size_(n) {
  if (n == 0) return;
  constexpr size_t kHugePage = size_t{2} << 20;
  const bool huge = pages == Pages::kHuge && n >= kHugePage;
  // Anonymous mappings are zero and page-aligned; huge pages also need 2 MiB
  // alignment, so such a mapping is made that much larger.
  mapped_bytes_ = n + (huge ? kHugePage : 0);
  mapping_ = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                  -1, 0);
  if (mapping_ == MAP_FAILED) {
    mapping_ = nullptr;
    throw std::bad_alloc();
  }
  uintptr_t start = reinterpret_cast<uintptr_t>(mapping_);
  if (huge) {  // Hints, which may fail.
    start = (start + kHugePage - 1) & ~(kHugePage - 1);
    madvise(reinterpret_cast<void*>(start), n, MADV_HUGEPAGE);
  } else {
    madvise(mapping_, mapped_bytes_, MADV_NOHUGEPAGE);
  }
  data_ = reinterpret_cast<char*>(start);
}

ZeroedBytes::~ZeroedBytes() { Unmap(); }

void ZeroedBytes::Unmap() {
  if (mapping_ != nullptr) munmap(mapping_, mapped_bytes_);
}

ZeroedBytes::ZeroedBytes(ZeroedBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapping_(std::exchange(other.mapping_, nullptr)),
      mapped_bytes_(std::exchange(other.mapped_bytes_, 0)) {}

ZeroedBytes& ZeroedBytes::operator=(ZeroedBytes&& other) noexcept {
  if (this != &other) {
    Unmap();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapped_bytes_ = std::exchange(other.mapped_bytes_, 0);
  }
  return *this;
}

}  // namespace patchfarm
