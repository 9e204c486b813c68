// libFuzzer target for the tree package reader and out-of-place apply. Input:
// a package. If it reads, it is applied to the base tree at $PF_FUZZ_BASE
// (tools/fuzz.sh makes it, and seed packages from it) into a scratch directory.
// Inputs starting with "RAW:" ("RAW1:") are decoded as an uncompressed table
// of the current format version (of version 1) instead, so that mutations
// reach the table checks behind the table checksum.
// Any input must end in OK or an error: never a crash, a hang, a write outside
// the scratch directory or an unbounded allocation.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/byte_io.h"
#include "common/directory.h"
#include "core/tree/package.h"
#include "core/tree/tree_apply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* base = std::getenv("PF_FUZZ_BASE");
  static const std::string out = absl::StrCat("/tmp/pf-package-fuzz-", getpid());
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (absl::StartsWith(input, "RAW:")) {
    (void)patchfarm::DecodePackageTable(input.substr(4), patchfarm::kPackageFormatVersion);
    return 0;
  }
  if (absl::StartsWith(input, "RAW1:")) {
    (void)patchfarm::DecodePackageTable(input.substr(5), 1);
    return 0;
  }
  patchfarm::StringSource source(input);
  absl::StatusOr<patchfarm::Package> package = patchfarm::ReadPackage(source);
  if (!package.ok() || base == nullptr) return 0;
  patchfarm::ChainOptions options;
  options.max_block_new_bytes = 1 << 20;
  (void)patchfarm::ApplyToNewTree(base, {{"fuzz", &source, &*package}}, out, options);
  (void)patchfarm::RemoveTree(out);
  return 0;
}
