#include "core/tree/package.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/delta/varint.h"
#include "core/delta/zstd_codec.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

constexpr char kFooterMagic[4] = {'P', 'F', 'T', 'E'};
constexpr size_t kHeaderBytes = 8;   // magic, u16 version, u16 flags
constexpr size_t kFooterBytes = 52;  // u64 table size, u64 raw size, digest, magic
constexpr int kTableZstdLevel = 19;
// Entries reserved at once while a table is read (more as they are read).
constexpr uint64_t kReserveEntries = 1 << 16;

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("corrupt package: ", what));
}

void PutU16(uint16_t v, std::string* out) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}

void PutDigest(const Digest& d, std::string* out) {
  out->append(reinterpret_cast<const char*>(d.data()), d.size());
}

void PutString(absl::string_view s, std::string* out) {
  PutVarint(s.size(), out);
  out->append(s.data(), s.size());
}

// Front coding: bytes shared with the previous path, then the rest.
void PutPath(const std::string& path, const std::string& previous, std::string* out) {
  size_t shared = 0;
  while (shared < path.size() && shared < previous.size() && path[shared] == previous[shared]) {
    ++shared;
  }
  PutVarint(shared, out);
  PutString(absl::string_view(path).substr(shared), out);
}

// Bounds-checked reads from the decompressed table.
class TableReader {
 public:
  explicit TableReader(absl::string_view data) : data_(data) {}
  size_t remaining() const { return data_.size() - pos_; }

  absl::StatusOr<uint64_t> Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return Corrupt("table truncated");
      uint8_t byte = static_cast<uint8_t>(data_[pos_++]);
      value |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return Corrupt("varint too long");
  }
  absl::StatusOr<uint8_t> Byte() {
    if (pos_ >= data_.size()) return Corrupt("table truncated");
    return static_cast<uint8_t>(data_[pos_++]);
  }
  absl::StatusOr<absl::string_view> Bytes(uint64_t n) {
    if (n > remaining()) return Corrupt("table truncated");
    absl::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  absl::StatusOr<Digest> ReadDigest() {
    PF_ASSIGN_OR_RETURN(absl::string_view bytes, Bytes(32));
    Digest d;
    std::memcpy(d.data(), bytes.data(), d.size());
    return d;
  }
  absl::StatusOr<std::string> Path(const std::string& previous) {
    PF_ASSIGN_OR_RETURN(uint64_t shared, Varint());
    if (shared > previous.size()) return Corrupt("bad path prefix");
    PF_ASSIGN_OR_RETURN(uint64_t length, Varint());
    if (length > kMaxTreePathBytes) return Corrupt("path too long");
    PF_RETURN_IF_ERROR(SpendPathBytes(shared + length));
    PF_ASSIGN_OR_RETURN(absl::string_view rest, Bytes(length));
    std::string path = previous.substr(0, shared);
    path.append(rest.data(), rest.size());
    return path;
  }
  // Counts `n` more decoded path or target bytes (kMaxPackagePathBytes).
  absl::Status SpendPathBytes(uint64_t n) {
    path_bytes_ += n;
    if (path_bytes_ > kMaxPackagePathBytes) {
      return Corrupt(absl::StrCat("paths add up to more than ", kMaxPackagePathBytes, " bytes"));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<uint32_t> Index(uint64_t limit, absl::string_view what) {
    PF_ASSIGN_OR_RETURN(uint64_t v, Varint());
    if (v >= limit) return Corrupt(absl::StrCat(what, " index out of range"));
    return static_cast<uint32_t>(v);
  }

 private:
  absl::string_view data_;
  size_t pos_ = 0;
  uint64_t path_bytes_ = 0;
};

absl::Status CheckPath(const std::string& path, const std::string& previous, bool first) {
  absl::Status valid = ValidateTreePath(path);
  if (!valid.ok()) return Corrupt(valid.message());
  if (!first && path <= previous) {
    return Corrupt(absl::StrCat(path == previous ? "duplicate entry " : "entries out of order at ",
                                QuotePath(path)));
  }
  return absl::OkStatus();
}

absl::StatusOr<EntryType> ReadType(TableReader* in) {
  PF_ASSIGN_OR_RETURN(uint8_t t, in->Byte());
  if (t < 1 || t > 3) return Corrupt("unknown entry type");
  return static_cast<EntryType>(t);
}

absl::StatusOr<uint32_t> ReadMode(TableReader* in) {
  PF_ASSIGN_OR_RETURN(uint64_t mode, in->Varint());
  if (mode > kModeMask) return Corrupt("mode has bits outside 0777");
  return static_cast<uint32_t>(mode);
}

absl::StatusOr<std::string> ReadTarget(TableReader* in, const std::string& path) {
  PF_ASSIGN_OR_RETURN(uint64_t length, in->Varint());
  if (length > kMaxTreePathBytes) return Corrupt("symlink target too long");
  PF_RETURN_IF_ERROR(in->SpendPathBytes(length));
  PF_ASSIGN_OR_RETURN(absl::string_view target, in->Bytes(length));
  absl::Status valid = ValidateSymlinkTarget(path, target);
  if (!valid.ok()) return Corrupt(valid.message());
  return std::string(target);
}

// Writes the current version (kPackageFormatVersion).
std::string EncodeTable(const PackageTable& t) {
  std::string out;
  PutDigest(t.new_manifest_digest, &out);
  PutDigest(t.base_digest, &out);
  PutVarint(t.old_entries.size(), &out);
  std::string previous;
  for (const ManifestEntry& e : t.old_entries) {
    PutPath(e.path, previous, &out);
    previous = e.path;
    out.push_back(static_cast<char>(e.type));
    if (e.type == EntryType::kFile) {
      PutVarint(e.size, &out);
    } else if (e.type == EntryType::kSymlink) {
      PutString(e.target, &out);
    }
  }
  PutVarint(t.new_entries.size(), &out);
  previous.clear();
  for (const NewEntry& n : t.new_entries) {
    const ManifestEntry& e = n.entry;
    PutPath(e.path, previous, &out);
    previous = e.path;
    out.push_back(static_cast<char>(e.type));
    if (e.type == EntryType::kSymlink) {
      PutString(e.target, &out);
      continue;
    }
    PutVarint(e.mode, &out);
    if (e.type != EntryType::kFile) continue;
    out.push_back(static_cast<char>(n.source));
    if (n.source == ContentSource::kKeep) continue;
    PutVarint(e.size, &out);
    if (n.source == ContentSource::kCopy) {
      PutVarint(n.old_index, &out);
    } else {
      PutVarint(n.block, &out);
      PutVarint(n.old_index == kNoOldEntry ? 0 : uint64_t{n.old_index} + 1, &out);
    }
  }
  PutVarint(t.block_payload_sizes.size(), &out);
  for (uint64_t size : t.block_payload_sizes) PutVarint(size, &out);
  return out;
}

// Versions 1 and 2 (PACKAGE.md: version 2 adds the base digest and drops the
// digests of old entries and rebuilt files, and the sizes of kept files).
absl::StatusOr<PackageTable> DecodeTable(absl::string_view raw, uint16_t version) {
  TableReader in(raw);
  PackageTable t;
  t.version = version;
  const bool v1 = version == 1;
  PF_ASSIGN_OR_RETURN(t.new_manifest_digest, in.ReadDigest());
  if (!v1) {
    PF_ASSIGN_OR_RETURN(t.base_digest, in.ReadDigest());
  }
  // Every entry takes at least 3 bytes, which bounds the counts before allocating.
  PF_ASSIGN_OR_RETURN(uint64_t old_count, in.Varint());
  if (old_count > in.remaining() / 3 || old_count > kMaxPackageEntries) {
    return Corrupt("too many old entries");
  }
  // Grown as entries are read, not by the count a table claims.
  t.old_entries.reserve(std::min<uint64_t>(old_count, kReserveEntries));
  std::string previous;
  for (uint64_t i = 0; i < old_count; ++i) {
    ManifestEntry& e = t.old_entries.emplace_back();
    PF_ASSIGN_OR_RETURN(e.path, in.Path(previous));
    PF_RETURN_IF_ERROR(CheckPath(e.path, previous, i == 0));
    previous = e.path;
    PF_ASSIGN_OR_RETURN(e.type, ReadType(&in));
    if (e.type == EntryType::kFile) {
      PF_ASSIGN_OR_RETURN(e.size, in.Varint());
      if (v1) {
        PF_ASSIGN_OR_RETURN(e.digest, in.ReadDigest());
      }
    } else if (e.type == EntryType::kSymlink) {
      PF_ASSIGN_OR_RETURN(e.target, ReadTarget(&in, e.path));
    }
  }
  PF_ASSIGN_OR_RETURN(uint64_t new_count, in.Varint());
  if (new_count > in.remaining() / 3 || new_count > kMaxPackageEntries - old_count) {
    return Corrupt("too many new entries");
  }
  t.new_entries.reserve(std::min<uint64_t>(new_count, kReserveEntries));
  previous.clear();
  for (uint64_t i = 0; i < new_count; ++i) {
    NewEntry& n = t.new_entries.emplace_back();
    ManifestEntry& e = n.entry;
    PF_ASSIGN_OR_RETURN(e.path, in.Path(previous));
    PF_RETURN_IF_ERROR(CheckPath(e.path, previous, i == 0));
    previous = e.path;
    PF_ASSIGN_OR_RETURN(e.type, ReadType(&in));
    if (e.type == EntryType::kSymlink) {
      PF_ASSIGN_OR_RETURN(e.target, ReadTarget(&in, e.path));
      continue;
    }
    PF_ASSIGN_OR_RETURN(e.mode, ReadMode(&in));
    if (e.type != EntryType::kFile) continue;
    if (v1) {
      PF_ASSIGN_OR_RETURN(e.size, in.Varint());
    }
    PF_ASSIGN_OR_RETURN(uint8_t source, in.Byte());
    if (source > 2) return Corrupt("unknown content source");
    n.source = static_cast<ContentSource>(source);
    if (!v1 && n.source != ContentSource::kKeep) {
      PF_ASSIGN_OR_RETURN(e.size, in.Varint());
    }
    if (n.source == ContentSource::kCopy) {
      PF_ASSIGN_OR_RETURN(n.old_index, in.Index(old_count, "old entry"));
    } else if (n.source == ContentSource::kBlock) {
      PF_ASSIGN_OR_RETURN(uint64_t block, in.Varint());
      if (block > 0xffffffffu) return Corrupt("block index out of range");
      n.block = static_cast<uint32_t>(block);
      PF_ASSIGN_OR_RETURN(uint32_t source_plus_one, in.Index(old_count + 1, "old entry"));
      n.old_index = source_plus_one == 0 ? kNoOldEntry : source_plus_one - 1;
      if (v1) {
        PF_ASSIGN_OR_RETURN(e.digest, in.ReadDigest());
      }
    }
  }
  PF_ASSIGN_OR_RETURN(uint64_t block_count, in.Varint());
  // Every block rebuilds at least one file.
  if (block_count > in.remaining() || block_count > new_count) return Corrupt("too many blocks");
  t.block_payload_sizes.resize(block_count);
  for (uint64_t& size : t.block_payload_sizes) {
    PF_ASSIGN_OR_RETURN(size, in.Varint());
  }
  if (in.remaining() != 0) return Corrupt("trailing bytes in table");
  return t;
}

// Cross-entry rules: parents, old references, blocks.
absl::StatusOr<std::vector<PackageBlock>> CheckTable(const PackageTable& t) {
  std::unordered_set<std::string> directories;
  for (const NewEntry& n : t.new_entries) {
    absl::string_view parent = ParentPath(n.entry.path);
    if (!parent.empty() && directories.count(std::string(parent)) == 0) {
      return Corrupt(absl::StrCat(QuotePath(n.entry.path), ": parent is not a directory of the new tree"));
    }
    if (n.entry.type == EntryType::kDirectory) directories.insert(n.entry.path);
  }
  std::vector<PackageBlock> blocks(t.block_payload_sizes.size());
  std::unordered_set<uint64_t> block_sources;  // block << 32 | old index
  for (uint32_t i = 0; i < t.new_entries.size(); ++i) {
    const NewEntry& n = t.new_entries[i];
    if (n.entry.type != EntryType::kFile) continue;
    if (n.old_index != kNoOldEntry) {
      const ManifestEntry& old = t.old_entries[n.old_index];
      if (old.type != EntryType::kFile) return Corrupt("a content source is not a file");
      if (n.source == ContentSource::kCopy && old.size != n.entry.size) {
        return Corrupt(absl::StrCat(QuotePath(n.entry.path), ": copy of a file of another size"));
      }
    }
    if (n.source != ContentSource::kBlock) continue;
    if (n.block >= blocks.size()) return Corrupt("block index out of range");
    PackageBlock& b = blocks[n.block];
    b.entries.push_back(i);
    if (n.entry.size > (uint64_t{1} << 62) - b.new_bytes) return Corrupt("block too large");
    b.new_bytes += n.entry.size;
    if (n.old_index != kNoOldEntry &&
        block_sources.insert(uint64_t{n.block} << 32 | n.old_index).second) {
      b.sources.push_back(n.old_index);
      b.old_bytes += t.old_entries[n.old_index].size;
      if (b.old_bytes > (uint64_t{1} << 62)) return Corrupt("block too large");
    }
  }
  for (const PackageBlock& b : blocks) {
    if (b.entries.empty()) return Corrupt("a block rebuilds no file");
  }
  return blocks;
}

}  // namespace

absl::StatusOr<Digest> ComputeBaseDigest(const PackageTable& table, const BaseFileLookup& file_at) {
  Manifest old_entries = table.old_entries;
  for (ManifestEntry& e : old_entries) {
    if (e.type != EntryType::kFile) continue;
    PF_ASSIGN_OR_RETURN(BaseFile file, file_at(e.path));
    e.digest = file.digest;
  }
  Manifest unrebuilt;
  for (const NewEntry& n : table.new_entries) {
    if (Rebuilt(n)) continue;
    ManifestEntry e = n.entry;
    if (e.type == EntryType::kFile) {
      const std::string& from =
          n.source == ContentSource::kKeep ? e.path : table.old_entries[n.old_index].path;
      PF_ASSIGN_OR_RETURN(BaseFile file, file_at(from));
      e.size = file.size;
      e.digest = file.digest;
    }
    unrebuilt.push_back(std::move(e));
  }
  const Digest digests[2] = {ManifestDigest(old_entries), ManifestDigest(unrebuilt)};
  return Sha256Of(absl::string_view(reinterpret_cast<const char*>(digests), sizeof(digests)));
}

const char* ContentSourceName(ContentSource source) {
  switch (source) {
    case ContentSource::kKeep:
      return "keep";
    case ContentSource::kCopy:
      return "copy";
    case ContentSource::kBlock:
      return "block";
  }
  return "unknown";
}

absl::Status PackageWriter::Start() {
  std::string header(kPackageMagic, sizeof(kPackageMagic));
  PutU16(kPackageFormatVersion, &header);
  PutU16(0, &header);
  return out_->Append(header);
}

absl::Status PackageWriter::AddBlock(absl::string_view payload) {
  payload_sizes_.push_back(payload.size());
  return out_->Append(payload);
}

absl::Status PackageWriter::AddBlock(const std::function<absl::Status(ByteSink*)>& write) {
  CountingSink counting(out_);
  PF_RETURN_IF_ERROR(write(&counting));
  payload_sizes_.push_back(counting.bytes());
  return absl::OkStatus();
}

absl::Status PackageWriter::Finish(PackageTable table) {
  table.block_payload_sizes = payload_sizes_;
  // What a reader refuses (package.h), refused here, where it is clear why.
  uint64_t path_bytes = 0;
  for (const ManifestEntry& e : table.old_entries) path_bytes += e.path.size() + e.target.size();
  for (const NewEntry& n : table.new_entries) {
    path_bytes += n.entry.path.size() + n.entry.target.size();
  }
  const uint64_t entries = table.old_entries.size() + table.new_entries.size();
  std::string raw = EncodeTable(table);
  if (entries > kMaxPackageEntries || path_bytes > kMaxPackagePathBytes ||
      raw.size() > kMaxPackageTableBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the trees are too large for one package: ", entries, " entries (at most ",
        kMaxPackageEntries, "), paths of ", path_bytes, " bytes (at most ", kMaxPackagePathBytes,
        "), a table of ", raw.size(), " bytes (at most ", kMaxPackageTableBytes, ")"));
  }
  ZstdOptions options;
  options.level = kTableZstdLevel;
  PF_ASSIGN_OR_RETURN(std::string compressed, ZstdCompress(raw, options));
  std::string footer;
  PutFixed64(compressed.size(), &footer);
  PutFixed64(raw.size(), &footer);
  PutDigest(Sha256Of(compressed), &footer);
  footer.append(kFooterMagic, sizeof(kFooterMagic));
  PF_RETURN_IF_ERROR(out_->Append(compressed));
  return out_->Append(footer);
}

bool IsPackage(const ByteSource& source) {
  char magic[4];
  absl::StatusOr<size_t> n = source.ReadAt(0, magic, sizeof(magic));
  return n.ok() && *n == sizeof(magic) && std::memcmp(magic, kPackageMagic, 4) == 0;
}

absl::StatusOr<Package> DecodePackageTable(absl::string_view raw, uint16_t version) {
  if (version < 1 || version > kPackageFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat("no package format version ", version));
  }
  Package package;
  PF_ASSIGN_OR_RETURN(package.table, DecodeTable(raw, version));
  PF_ASSIGN_OR_RETURN(package.blocks, CheckTable(package.table));
  return package;
}

absl::StatusOr<Package> ReadPackage(const ByteSource& source) {
  if (!IsPackage(source)) return absl::InvalidArgumentError("not a patchfarm tree package");
  const uint64_t size = source.size();
  if (size < kHeaderBytes + kFooterBytes) return Corrupt("truncated");
  char header[kHeaderBytes];
  char footer[kFooterBytes];
  PF_ASSIGN_OR_RETURN(size_t got, source.ReadAt(0, header, sizeof(header)));
  if (got != sizeof(header)) return Corrupt("truncated");
  uint16_t version = static_cast<uint8_t>(header[4]) | static_cast<uint8_t>(header[5]) << 8;
  uint16_t flags = static_cast<uint8_t>(header[6]) | static_cast<uint8_t>(header[7]) << 8;
  if (version < 1 || version > kPackageFormatVersion || flags != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "package format version ", version, " with flags ", flags,
        " is not supported (this build reads versions 1 to ", kPackageFormatVersion,
        ", flags 0)"));
  }
  PF_ASSIGN_OR_RETURN(got, source.ReadAt(size - kFooterBytes, footer, sizeof(footer)));
  if (got != sizeof(footer) || std::memcmp(footer + 48, kFooterMagic, 4) != 0) {
    return Corrupt("footer missing (truncated download?)");
  }
  const uint64_t table_size = GetFixed64(footer);
  const uint64_t raw_size = GetFixed64(footer + 8);
  if (table_size > size - kHeaderBytes - kFooterBytes) return Corrupt("table size out of range");
  if (raw_size > kMaxPackageTableBytes) return Corrupt("table too large");
  // A zstd frame is never much larger than its content (ZSTD_compressBound):
  // read no more than that.
  if (table_size > raw_size + raw_size / 128 + 1024) return Corrupt("table frame too large");
  const uint64_t table_offset = size - kFooterBytes - table_size;
  std::string compressed(table_size, '\0');
  PF_ASSIGN_OR_RETURN(got, source.ReadAt(table_offset, compressed.data(), table_size));
  if (got != table_size) return Corrupt("truncated");
  if (std::memcmp(Sha256Of(compressed).data(), footer + 16, 32) != 0) {
    return Corrupt("table checksum mismatch");
  }
  StringSource table_source(compressed);
  ZstdFrameReader::Limits limits;
  limits.content_size = raw_size;
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ZstdFrameReader> reader,
                      ZstdFrameReader::Open(&table_source, 0, table_size, limits));
  std::string raw(raw_size, '\0');
  PF_RETURN_IF_ERROR(reader->Read(raw.data(), raw.size()));
  PF_RETURN_IF_ERROR(reader->CheckFinished());

  PF_ASSIGN_OR_RETURN(Package package, DecodePackageTable(raw, version));
  package.size = size;
  uint64_t offset = kHeaderBytes;
  for (size_t i = 0; i < package.blocks.size(); ++i) {
    uint64_t payload = package.table.block_payload_sizes[i];
    if (payload > table_offset - offset) return Corrupt("block payloads exceed the package");
    package.blocks[i].payload_offset = offset;
    package.blocks[i].payload_size = payload;
    offset += payload;
  }
  if (offset != table_offset) return Corrupt("bytes between payloads and table");
  return package;
}

}  // namespace patchfarm
