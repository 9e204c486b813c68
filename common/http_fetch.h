// Fetching over HTTP(S) and file:// with libcurl: small documents into memory
// and downloads to a file that resume where an earlier attempt stopped (HTTP
// Range). The only includer of curl. Thread-safe (one handle per call).
#ifndef PATCHFARM_COMMON_HTTP_FETCH_H_
#define PATCHFARM_COMMON_HTTP_FETCH_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace patchfarm {

// The body at `url`, at most `max_bytes` (ResourceExhausted beyond), within
// two minutes and a second per 16 KiB of `max_bytes`. NotFound for HTTP 404 or a missing file; Unavailable for
// network errors and other HTTP errors (nothing of an error's body is kept).
// Redirects go to http and https only (https only from an https URL), at most 5.
absl::StatusOr<std::string> FetchUrl(const std::string& url, uint64_t max_bytes);

struct DownloadResult {
  uint64_t resumed_from = 0;  // Bytes already in `path` when this call began.
  uint64_t size = 0;          // Bytes in `path` now.
};

// Appends the body at `url` to `path` (created, never through a symlink),
// asking for the bytes after those already there. FailedPrecondition if
// the server will not send from there (start over from an empty file);
// otherwise fails as FetchUrl does, and when slower than 1 KiB/s for a
// minute (what was written is kept, to resume). The caller verifies the
// whole file (size, SHA-256).
absl::StatusOr<DownloadResult> DownloadUrl(const std::string& url, const std::string& path,
                                           uint64_t max_bytes);

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_HTTP_FETCH_H_
