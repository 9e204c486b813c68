// libFuzzer target for Apply. Input: a 4-byte little-endian old length, that
// many bytes of old file, then the patch. Any input must end in OK or an error:
// never a crash, a hang or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/byte_io.h"
#include "core/delta/apply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t old_len = data[0] | (data[1] << 8) | (data[2] << 16) | (uint32_t{data[3]} << 24);
  if (old_len > size - 4) return 0;
  const char* bytes = reinterpret_cast<const char*>(data);
  absl::string_view old_data(bytes + 4, old_len);
  patchfarm::StringSource patch(absl::string_view(bytes + 4 + old_len, size - 4 - old_len));
  std::string out;
  patchfarm::StringSink sink(&out);
  patchfarm::ApplyOptions options;
  options.max_output_bytes = 1 << 20;
  options.threads = 2;  // Two-part diff streams: the second decoded ahead.
  (void)patchfarm::Apply(old_data, patch, &sink, options);
  return 0;
}
