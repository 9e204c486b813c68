#include "core/delta/lzma_codec.h"

#include <lzma.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

constexpr size_t kInBytes = 64 << 10;
constexpr size_t kOutBytes = 128 << 10;

absl::Status FromLzma(lzma_ret rc, absl::string_view context, absl::StatusCode code) {
  const char* what = rc == LZMA_MEM_ERROR      ? "out of memory"
                     : rc == LZMA_DATA_ERROR   ? "corrupt data"
                     : rc == LZMA_BUF_ERROR    ? "truncated data"
                     : rc == LZMA_OPTIONS_ERROR ? "unsupported options"
                                               : "error";
  return absl::Status(code, absl::StrCat(context, ": lzma: ", what, " (", rc, ")"));
}

// The filter chain of a stream of `raw_size` bytes; `options` must outlive it.
void SetFilters(uint64_t raw_size, lzma_options_lzma* options, lzma_filter filters[2]) {
  options->dict_size = LzmaDictionaryBytes(raw_size);
  filters[0] = {LZMA_FILTER_LZMA2, options};
  filters[1] = {LZMA_VLI_UNKNOWN, nullptr};
}

}  // namespace

uint32_t LzmaDictionaryBytes(uint64_t raw_size) {
  uint32_t dict = LZMA_DICT_SIZE_MIN;  // 4 KiB.
  while (dict < raw_size && dict < (uint32_t{8} << 20)) dict <<= 1;
  return dict;
}

absl::StatusOr<std::string> LzmaCompress(absl::string_view data, int preset) {
  lzma_options_lzma options;
  if (lzma_lzma_preset(&options, static_cast<uint32_t>(std::clamp(preset, 0, 9)))) {
    return absl::InternalError("lzma: no such preset");
  }
  lzma_filter filters[2];
  SetFilters(data.size(), &options, filters);
  // A bound on raw LZMA2 as well: a block adds headers to it.
  std::string out(lzma_block_buffer_bound(data.size()), '\0');
  size_t out_pos = 0;
  lzma_ret rc = lzma_raw_buffer_encode(
      filters, nullptr, reinterpret_cast<const uint8_t*>(data.data()), data.size(),
      reinterpret_cast<uint8_t*>(out.data()), &out_pos, out.size());
  if (rc != LZMA_OK) return FromLzma(rc, "compressing", absl::StatusCode::kInternal);
  out.resize(out_pos);
  return out;
}

absl::StatusOr<std::string> LzmaCompressStoring(absl::string_view data, int preset,
                                                const std::vector<bool>& stored) {
  const size_t pieces = (data.size() + kLzmaStoredPiece - 1) / kLzmaStoredPiece;
  if (stored.size() != pieces) return absl::InvalidArgumentError("one mark per piece");
  // Runs of stored pieces long enough to store, as [begin, end) in pieces.
  std::vector<std::pair<size_t, size_t>> runs;
  for (size_t i = 0; i < pieces;) {
    size_t j = i;
    while (j < pieces && stored[j]) ++j;
    if (std::min(j * kLzmaStoredPiece, data.size()) - i * kLzmaStoredPiece >=
        kLzmaMinStoredRun) {
      runs.emplace_back(i, j);
    }
    i = j + (j == i);
  }
  if (runs.empty()) return LzmaCompress(data, preset);
  std::string out;
  size_t at = 0;  // Bytes of data done.
  auto encode_to = [&](size_t end) -> absl::Status {
    if (end == at) return absl::OkStatus();
    PF_ASSIGN_OR_RETURN(std::string stream, LzmaCompress(data.substr(at, end - at), preset));
    if (stream.empty() || stream.back() != '\0') return absl::InternalError("lzma: no end marker");
    stream.pop_back();  // The stream goes on.
    out += stream;
    at = end;
    return absl::OkStatus();
  };
  for (const auto& [begin, end] : runs) {
    PF_RETURN_IF_ERROR(encode_to(begin * kLzmaStoredPiece));
    const size_t stop = std::min(end * kLzmaStoredPiece, data.size());
    for (; at < stop; at += kLzmaStoredPiece) {
      const size_t n = std::min(kLzmaStoredPiece, stop - at);
      // 1: uncompressed, dictionary reset (a stream's first chunk); 2: without.
      out += static_cast<char>(at == 0 ? 1 : 2);
      out += static_cast<char>((n - 1) >> 8);
      out += static_cast<char>((n - 1) & 0xff);
      out.append(data.data() + at, n);
    }
    at = stop;
  }
  PF_RETURN_IF_ERROR(encode_to(data.size()));
  out += '\0';  // The end marker.
  return out;
}

struct LzmaStreamReader::Decoder {
  ~Decoder() { lzma_end(&stream); }
  lzma_stream stream = LZMA_STREAM_INIT;
};

LzmaStreamReader::LzmaStreamReader(const ByteSource* source, uint64_t offset,
                                   uint64_t length, uint64_t content_size)
    : StreamReader(source, offset, length, content_size, kInBytes, kOutBytes),
      decoder_(new Decoder) {}

LzmaStreamReader::~LzmaStreamReader() = default;

absl::StatusOr<std::unique_ptr<LzmaStreamReader>> LzmaStreamReader::Open(
    const ByteSource* source, uint64_t offset, uint64_t length, uint64_t content_size) {
  std::unique_ptr<LzmaStreamReader> reader(
      new LzmaStreamReader(source, offset, length, content_size));
  lzma_options_lzma options;
  lzma_lzma_preset(&options, LZMA_PRESET_DEFAULT);  // The decoder reads only the dictionary.
  lzma_filter filters[2];
  SetFilters(content_size, &options, filters);
  lzma_ret rc = lzma_raw_decoder(&reader->decoder_->stream, filters);
  if (rc != LZMA_OK) return FromLzma(rc, "starting decoder", absl::StatusCode::kInternal);
  return reader;
}

absl::Status LzmaStreamReader::Step() {
  if (stream_done_) return absl::DataLossError("stream ends before its declared size");
  lzma_stream& s = decoder_->stream;
  // After a full output buffer the decoder may have more to give without
  // input (a long match); otherwise it needs input, and the range must have more.
  if (!output_was_full_) PF_RETURN_IF_ERROR(ReadInput());
  s.next_in = reinterpret_cast<const uint8_t*>(in_buf_.data()) + in_pos_;
  s.avail_in = in_end_ - in_pos_;
  s.next_out = reinterpret_cast<uint8_t*>(out_buf_.data());
  s.avail_out = out_buf_.size();
  lzma_ret rc = lzma_code(&s, LZMA_RUN);
  in_pos_ = in_end_ - s.avail_in;
  output_was_full_ = s.avail_out == 0;
  if (rc == LZMA_STREAM_END) {
    stream_done_ = true;
  } else if (rc != LZMA_OK) {
    return FromLzma(rc, "decompressing stream", absl::StatusCode::kDataLoss);
  }
  return Produced(out_buf_.size() - s.avail_out);
}

absl::Status LzmaStreamReader::CheckFinished() {
  PF_RETURN_IF_ERROR(CheckContentRead());
  // The content is complete; drive the decoder on to its end marker.
  while (!stream_done_) PF_RETURN_IF_ERROR(Step());  // Fails on more content.
  if (!InputConsumed()) return absl::DataLossError("unexpected bytes after stream");
  return absl::OkStatus();
}

}  // namespace patchfarm
