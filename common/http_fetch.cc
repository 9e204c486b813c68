#include "common/http_fetch.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace patchfarm {
namespace {

// A document fetched into memory (an index, its signature) comes whole
// within 2 minutes and a second per 16 KiB it may hold, however slowly its
// server sends it.
long FetchTimeoutSeconds(uint64_t max_bytes) {
  return 120 + static_cast<long>(std::min<uint64_t>(max_bytes >> 14, uint64_t{1} << 20));
}

struct Sink {
  std::string* memory = nullptr;
  FILE* file = nullptr;
  uint64_t written = 0;
  uint64_t limit = 0;
  bool over = false;
};

size_t Write(char* data, size_t size, size_t count, void* user) {
  Sink* sink = static_cast<Sink*>(user);
  size_t n = size * count;
  if (sink->written + n > sink->limit) {
    sink->over = true;
    return 0;  // Aborts the transfer.
  }
  if (sink->memory != nullptr) {
    sink->memory->append(data, n);
  } else if (std::fwrite(data, 1, n, sink->file) != n) {
    return 0;
  }
  sink->written += n;
  return n;
}

// `timeout_seconds`: for the whole transfer (0: none; a download instead
// fails once slower than 1 KiB/s for a minute).
absl::Status Perform(const std::string& url, Sink* sink, uint64_t resume_from, long timeout_seconds) {
  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!initialized) return absl::InternalError("libcurl failed to initialize");
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::InternalError("libcurl: no handle");
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, Write);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, sink);
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, timeout_seconds);
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1024L);  // Abort a stalled (or
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, 60L);     // dripping) transfer.
  // An error's body is not the document: nothing of it is written.
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
  // A redirect never leaves https for plain http: what an https index
  // names would otherwise travel, and be told apart, in clear.
  const char* redirects = absl::StartsWithIgnoreCase(url, "https://") ? "https" : "http,https";
  if (curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https,file") != CURLE_OK ||
      curl_easy_setopt(curl.get(), CURLOPT_REDIR_PROTOCOLS_STR, redirects) != CURLE_OK) {
    return absl::InternalError("libcurl is too old to restrict protocols (7.85 or later needed)");
  }
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  if (resume_from > 0) curl_easy_setopt(curl.get(), CURLOPT_RESUME_FROM_LARGE, (curl_off_t)resume_from);
  CURLcode code = curl_easy_perform(curl.get());
  long http = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &http);
  if (sink->over) return absl::ResourceExhaustedError(absl::StrCat(url, ": larger than ", sink->limit, " bytes"));
  if (code == CURLE_FILE_COULDNT_READ_FILE || http == 404) {
    return absl::NotFoundError(absl::StrCat(url, ": not found"));
  }
  if (code == CURLE_RANGE_ERROR || http == 416) {
    return absl::FailedPreconditionError(absl::StrCat(url, ": the server does not resume downloads"));
  }
  if (http >= 400) return absl::UnavailableError(absl::StrCat(url, ": HTTP ", http));
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(url, ": ", curl_easy_strerror(code)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> FetchUrl(const std::string& url, uint64_t max_bytes) {
  std::string body;
  Sink sink;
  sink.memory = &body;
  sink.limit = max_bytes;
  absl::Status status = Perform(url, &sink, 0, FetchTimeoutSeconds(max_bytes));
  if (!status.ok()) return status;
  return body;
}

absl::StatusOr<DownloadResult> DownloadUrl(const std::string& url, const std::string& path,
                                           uint64_t max_bytes) {
  DownloadResult result;
  // Created (an empty file is whole at once), never through a symlink.
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  FILE* file = fd < 0 ? nullptr : fdopen(fd, "ab");
  if (file == nullptr) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("cannot write ", path));
  }
  struct stat st;
  if (fstat(fd, &st) == 0) result.resumed_from = static_cast<uint64_t>(st.st_size);
  if (result.resumed_from >= max_bytes) {
    std::fclose(file);
    result.size = result.resumed_from;
    return result;
  }
  Sink sink;
  sink.file = file;
  sink.limit = max_bytes - result.resumed_from;
  absl::Status status = Perform(url, &sink, result.resumed_from, 0);
  if (std::fclose(file) != 0 && status.ok()) status = absl::UnavailableError("write failed: " + path);
  if (!status.ok()) return status;
  result.size = result.resumed_from + sink.written;
  return result;
}

}  // namespace patchfarm
