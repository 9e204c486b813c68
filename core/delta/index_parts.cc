#include "core/delta/index_parts.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/delta/block_index.h"
#include "core/delta/bounded_differ.h"
#include "core/delta/bounded_streams.h"
#include "core/delta/varint.h"

namespace patchfarm {

using bounded_internal::BoundedIndexBytes;
using bounded_internal::ChunkIndexKey;

namespace {

BlockIndex IndexFor(uint64_t old_size, const DiffOptions& options) {
  return BlockIndex(old_size, BoundedIndexBytes(options), options.index_part_bytes);
}

std::string SerializeHeader(const IndexPartHeader& header) {
  std::string out(kIndexPartMagic, sizeof kIndexPartMagic);
  for (int shift = 0; shift < 32; shift += 8) {
    out.push_back(static_cast<char>((kIndexPartFormatVersion >> shift) & 0xff));
  }
  PutFixed64(header.old_size, &out);
  out.append(reinterpret_cast<const char*>(header.old_digest.data()), 32);
  PutFixed64(header.begin, &out);
  PutFixed64(header.end, &out);
  PutFixed64(header.slots, &out);
  PutFixed64(header.chunk_log, &out);
  PutFixed64(header.part_bytes, &out);
  PutFixed64(header.chunks, &out);
  return out;
}

}  // namespace

std::vector<std::pair<uint64_t, uint64_t>> IndexPartRanges(uint64_t old_size,
                                                           uint64_t part_bytes) {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (uint64_t begin = 0; begin < old_size; begin += part_bytes) {
    ranges.emplace_back(begin, begin + std::min(part_bytes, old_size - begin));
  }
  return ranges;
}

absl::Status MakeIndexPart(const ByteSource& old, const Digest& old_digest, uint64_t begin,
                           const DiffOptions& options, ByteSink* out) {
  BlockIndex index = IndexFor(old.size(), options);
  PF_RETURN_IF_ERROR(index.AddPart(old, begin, [](absl::string_view) {}));
  const std::string chunks = index.Serialize();
  IndexPartHeader header;
  header.old_size = old.size();
  header.old_digest = old_digest;
  header.begin = begin;
  header.end = begin + std::min(index.part_bytes(), old.size() - begin);
  header.slots = index.slots();
  header.chunk_log = static_cast<uint32_t>(index.chunk_log());
  header.part_bytes = index.part_bytes();
  header.chunks = chunks.size() / 16;
  PF_RETURN_IF_ERROR(out->Append(SerializeHeader(header)));
  return out->Append(chunks);
}

absl::StatusOr<IndexPartHeader> ReadIndexPartHeader(const ByteSource& part) {
  char buf[kIndexPartHeaderBytes];
  PF_ASSIGN_OR_RETURN(size_t got, part.ReadAt(0, buf, sizeof buf));
  if (got < 8 || std::memcmp(buf, kIndexPartMagic, sizeof kIndexPartMagic) != 0) {
    return absl::InvalidArgumentError("not a patchfarm index part (bad magic)");
  }
  uint32_t version = 0;
  for (int i = 3; i >= 0; --i) version = version << 8 | static_cast<uint8_t>(buf[4 + i]);
  if (version != kIndexPartFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("index part format version ", version, " is not supported"));
  }
  if (got < kIndexPartHeaderBytes) return absl::DataLossError("index part is truncated");
  IndexPartHeader header;
  header.old_size = GetFixed64(buf + 8);
  std::memcpy(header.old_digest.data(), buf + 16, 32);
  header.begin = GetFixed64(buf + 48);
  header.end = GetFixed64(buf + 56);
  header.slots = GetFixed64(buf + 64);
  const uint64_t chunk_log = GetFixed64(buf + 72);
  header.part_bytes = GetFixed64(buf + 80);
  header.chunks = GetFixed64(buf + 88);
  if (chunk_log > 63 || header.part_bytes == 0 || header.begin % header.part_bytes != 0 ||
      header.begin >= header.old_size ||
      header.end != header.begin + std::min(header.part_bytes, header.old_size - header.begin)) {
    return absl::DataLossError("corrupt index part header: not a part of old");
  }
  header.chunk_log = static_cast<uint32_t>(chunk_log);
  if (header.chunks > (part.size() - kIndexPartHeaderBytes) / 16 ||
      part.size() != kIndexPartHeaderBytes + header.chunks * 16) {
    return absl::DataLossError("index part's length does not match its chunk count");
  }
  return header;
}

absl::Status SaveJoinedIndex(const std::vector<const ByteSource*>& parts,
                             const DiffOptions& options) {
  if (options.index_store == nullptr || !options.old_digest) {
    return absl::InvalidArgumentError("joining index parts needs an index store and old's digest");
  }
  if (parts.empty()) return absl::InvalidArgumentError("no index parts to join");
  PF_ASSIGN_OR_RETURN(IndexPartHeader first, ReadIndexPartHeader(*parts[0]));
  BlockIndex index = IndexFor(first.old_size, options);
  uint64_t next = 0;  // Where the next part must start.
  std::string chunks;
  for (const ByteSource* part : parts) {
    PF_ASSIGN_OR_RETURN(IndexPartHeader header, ReadIndexPartHeader(*part));
    if (header.old_size != first.old_size || header.old_digest != *options.old_digest) {
      return absl::InvalidArgumentError("an index part is of another old file");
    }
    if (header.begin != next) {
      return absl::InvalidArgumentError(
          absl::StrCat("index parts do not cover old in order: one starts at ", header.begin,
                       ", not ", next));
    }
    if (header.slots != index.slots() || header.chunk_log != uint32_t(index.chunk_log()) ||
        header.part_bytes != index.part_bytes()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "index parts were made for an index of ", header.slots, " slots, chunks of 2^",
          header.chunk_log, " bytes and parts of ", header.part_bytes, " bytes, not ",
          index.Parameters()));
    }
    if (header.chunks > index.slots()) return absl::DataLossError("an index part is too long");
    chunks.resize(header.chunks * 16);
    PF_RETURN_IF_ERROR(ReadExactly(*part, kIndexPartHeaderBytes, chunks.data(), chunks.size(),
                                   "index part"));
    // Restore refuses chunks out of order, so the first and last bound the rest.
    if (!chunks.empty() && (GetFixed64(chunks.data() + 8) < header.begin ||
                            GetFixed64(chunks.data() + chunks.size() - 8) >= header.end)) {
      return absl::DataLossError("an index part holds a chunk outside its part");
    }
    PF_RETURN_IF_ERROR(index.Restore(chunks));
    next = header.end;
  }
  if (next != first.old_size) {
    return absl::InvalidArgumentError(absl::StrCat("index parts end at ", next, " of ",
                                                   first.old_size, " bytes of old"));
  }
  const std::string key = ChunkIndexKey(index.Parameters(), *options.old_digest);
  options.index_store->Save(key, index.Serialize());
  if (options.chunk_index_cache != nullptr) {  // A store keeps no entry over its bound.
    options.chunk_index_cache->Put(key, std::make_shared<const BlockIndex>(std::move(index)));
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
