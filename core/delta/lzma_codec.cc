#include "core/delta/lzma_codec.h"

#include <lzma.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

constexpr size_t kInBytes = 64 << 10;
constexpr size_t kOutBytes = 128 << 10;
constexpr uint32_t kMaxDictionary = 8 << 20;
static_assert(kLzmaPrimerBytes % kLzmaStoredPiece == 0 && kLzmaPrimerBytes <= kMaxDictionary,
              "primers are whole pieces within the dictionary");
static_assert(kLzmaPrimerBytes <= kLzmaMaxCodedRun / 2 - kLzmaStoredPiece,
              "every part a primer precedes is longer than it");

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
  while (dict < raw_size && dict < kMaxDictionary) dict <<= 1;
  return dict;
}

namespace {

// LzmaCompress of `data`, whose encoder first reads `primer`, the bytes a
// reader has just decoded before it (its first chunk then does not reset
// the dictionary).
absl::StatusOr<std::string> CompressPrimed(absl::string_view data, absl::string_view primer,
                                           int preset) {
  lzma_options_lzma options;
  if (lzma_lzma_preset(&options, static_cast<uint32_t>(std::clamp(preset, 0, 9)))) {
    return absl::InternalError("lzma: no such preset");
  }
  lzma_filter filters[2];
  SetFilters(data.size(), &options, filters);
  if (!primer.empty()) {
    options.preset_dict = reinterpret_cast<const uint8_t*>(primer.data());
    options.preset_dict_size = static_cast<uint32_t>(primer.size());
  }
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

}  // namespace

absl::StatusOr<std::string> LzmaCompress(absl::string_view data, int preset) {
  return CompressPrimed(data, absl::string_view(), preset);
}

absl::StatusOr<std::string> LzmaCompressStoring(absl::string_view data, int preset,
                                                const std::vector<bool>& stored, int threads) {
  const size_t pieces = (data.size() + kLzmaStoredPiece - 1) / kLzmaStoredPiece;
  if (stored.size() != pieces) return absl::InvalidArgumentError("one mark per piece");
  // The data in parts, [begin, end) in bytes: runs of stored pieces long
  // enough to store, and the runs between them, which are coded.
  struct Part {
    size_t begin, end;
    bool stored;
    size_t primer;  // Bytes before `begin` the encoder reads first.
    absl::StatusOr<std::string> coded;
  };
  std::vector<Part> parts;
  for (size_t i = 0, coded_from = 0; i <= pieces;) {
    size_t j = i;
    while (j < pieces && stored[j]) ++j;
    const size_t begin = std::min(i * kLzmaStoredPiece, data.size());
    const size_t end = std::min(j * kLzmaStoredPiece, data.size());
    if (i == pieces || end - begin >= kLzmaMinStoredRun) {
      // Coded runs longer than kLzmaMaxCodedRun are cut in about equal
      // parts, at whole pieces from the run's start: LZMA's contexts take
      // the position's low bits, which a reader counts from the run's start
      // and a primed encoder from its primer's (kLzmaPrimerBytes, a whole
      // number of pieces, as every part is longer).
      const size_t run = begin - coded_from;
      const size_t cuts = (run + kLzmaMaxCodedRun - 1) / kLzmaMaxCodedRun;
      auto cut = [&](size_t k) {
        return k == cuts ? begin
                         : coded_from + run * k / cuts / kLzmaStoredPiece * kLzmaStoredPiece;
      };
      for (size_t k = 0; k < cuts; ++k) {
        parts.push_back({cut(k), cut(k + 1), false, k == 0 ? 0 : kLzmaPrimerBytes,
                         std::string()});
      }
      if (end > begin) parts.push_back({begin, end, true, 0, std::string()});
      coded_from = end;
    }
    i = j + (j == i);
  }
  if (parts.size() <= 1 && (parts.empty() || !parts[0].stored)) return LzmaCompress(data, preset);
  // The coded parts, on up to `threads` threads, each taking the next one.
  std::atomic<size_t> next{0};
  auto code = [&] {
    for (size_t k; (k = next++) < parts.size();) {
      if (!parts[k].stored) {
        const Part& part = parts[k];
        parts[k].coded = CompressPrimed(data.substr(part.begin, part.end - part.begin),
                                        data.substr(part.begin - part.primer, part.primer), preset);
      }
    }
  };
  std::vector<std::thread> helpers;
  const size_t coded_parts =
      std::count_if(parts.begin(), parts.end(), [](const Part& part) { return !part.stored; });
  for (size_t t = 1; t < std::min<size_t>(std::max(threads, 1), coded_parts); ++t) {
    helpers.emplace_back(code);
  }
  code();
  for (std::thread& helper : helpers) helper.join();
  std::string out;
  for (Part& part : parts) {
    if (!part.stored) {
      PF_ASSIGN_OR_RETURN(std::string stream, std::move(part.coded));
      if (stream.empty() || stream.back() != '\0') {
        return absl::InternalError("lzma: no end marker");
      }
      out.append(stream, 0, stream.size() - 1);  // Without it: the stream goes on.
      continue;
    }
    for (size_t at = part.begin; at < part.end; at += kLzmaStoredPiece) {
      const size_t n = std::min(kLzmaStoredPiece, part.end - at);
      // 1: uncompressed, dictionary reset (a stream's first chunk); 2: without.
      out += static_cast<char>(at == 0 ? 1 : 2);
      out += static_cast<char>((n - 1) >> 8);
      out += static_cast<char>((n - 1) & 0xff);
      out.append(data.data() + at, n);
    }
  }
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
