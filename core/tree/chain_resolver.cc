#include "core/tree/chain_resolver.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "core/delta/apply.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

// A file of an intermediate version, rebuilt into memory or, with a scratch
// directory, into a scratch file (ChainOptions): one of its own from
// kScratchFileBytes, else its version's shared one, where small files lie
// back to back (one descriptor and one write buffer however many there are).
// Files are written one at a time, each from its first byte to its last.
class RebuiltFile : public ByteSource {
 public:
  RebuiltFile() = default;
  RebuiltFile(const RebuiltFile&) = delete;  // Its sinks point at it.
  RebuiltFile& operator=(const RebuiltFile&) = delete;

  // `scratch`: the version's shared scratch file, made here when first needed.
  // `memory_bytes`: what earlier files put in memory, counted up here.
  static absl::StatusOr<std::shared_ptr<RebuiltFile>> Create(
      uint64_t size, const ChainOptions& options, std::shared_ptr<ScratchFile>* scratch,
      uint64_t* memory_bytes) {
    auto file = std::make_shared<RebuiltFile>();
    const bool fits = size < kScratchFileBytes && size <= kIntermediateMemoryBytes - *memory_bytes;
    if (!fits && !options.scratch_dir.empty()) {
      if (size >= kScratchFileBytes) {  // Its own: a later version may keep it alone.
        PF_ASSIGN_OR_RETURN(file->scratch_, ScratchFile::Create(options.scratch_dir));
      } else {
        if (*scratch == nullptr) {
          PF_ASSIGN_OR_RETURN(*scratch, ScratchFile::Create(options.scratch_dir));
        }
        file->scratch_ = *scratch;
      }
    } else {
      *memory_bytes += std::min(size, kIntermediateMemoryBytes - *memory_bytes);
      file->memory_.reserve(std::min<uint64_t>(size, uint64_t{1} << 20));
    }
    return file;
  }
  ByteSink* sink() { return scratch_ ? static_cast<ByteSink*>(&scratch_sink_) : &memory_sink_; }
  uint64_t size() const override { return scratch_ ? length_ : memory_.size(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override {
    if (!scratch_) return StringSource(memory_).ReadAt(offset, buf, n);
    if (offset >= length_) return 0;
    return scratch_->ReadAt(begin_ + offset, buf, std::min<uint64_t>(n, length_ - offset));
  }

 private:
  // Appends to the scratch file, where this file begins at its first byte.
  class ScratchSink : public ByteSink {
   public:
    explicit ScratchSink(RebuiltFile* file) : file_(file) {}
    absl::Status Append(absl::string_view data) override {
      if (file_->length_ == 0) file_->begin_ = file_->scratch_->size();
      PF_RETURN_IF_ERROR(file_->scratch_->Append(data));
      file_->length_ += data.size();
      return absl::OkStatus();
    }

   private:
    RebuiltFile* file_;
  };

  std::shared_ptr<ScratchFile> scratch_;
  uint64_t begin_ = 0, length_ = 0;  // Its bytes in scratch_.
  ScratchSink scratch_sink_{this};
  std::string memory_;
  StringSink memory_sink_{&memory_};
};

// Routes the output of one block to its files in order, hashing each. Files
// going to FileOutputs are opened one at a time, when their first byte comes.
class SplitSink : public ByteSink {
 public:
  struct Target {
    std::string path;
    uint64_t size = 0;
    std::optional<Digest> expected;  // Checked if known (version 1 packages).
    Digest* digest = nullptr;        // Receives the file's SHA-256.
    ByteSink* sink = nullptr;        // Memory, or
    FileOutputs* outputs = nullptr;  // Open(path) ... Close(path).
  };

  explicit SplitSink(std::vector<Target> targets) : targets_(std::move(targets)) {}

  absl::Status Append(absl::string_view data) override {
    while (!data.empty()) {
      PF_RETURN_IF_ERROR(Advance());
      if (current_ >= targets_.size()) {
        return absl::DataLossError("corrupt package: a block rebuilds more bytes than its files");
      }
      Target& t = targets_[current_];
      size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), t.size - written_));
      hasher_.Update(data.substr(0, n));
      PF_RETURN_IF_ERROR(t.sink->Append(data.substr(0, n)));
      written_ += n;
      data.remove_prefix(n);
    }
    return absl::OkStatus();
  }

  // Checks that every file was rebuilt completely.
  absl::Status Finish() {
    PF_RETURN_IF_ERROR(Advance());
    if (current_ != targets_.size()) {
      return absl::DataLossError("corrupt package: a block rebuilds fewer bytes than its files");
    }
    return absl::OkStatus();
  }

 private:
  // Closes completed files and opens the current one.
  absl::Status Advance() {
    while (current_ < targets_.size()) {
      Target& t = targets_[current_];
      if (t.sink == nullptr) {
        PF_ASSIGN_OR_RETURN(t.sink, t.outputs->Open(t.path));
      }
      if (written_ < t.size) return absl::OkStatus();
      *t.digest = hasher_.Finish();
      if (t.expected && *t.digest != *t.expected) {
        return absl::DataLossError(
            absl::StrCat("corrupt package: rebuilt ", QuotePath(t.path), " has the wrong SHA-256"));
      }
      if (t.outputs != nullptr) PF_RETURN_IF_ERROR(t.outputs->Close(t.path));
      ++current_;
      written_ = 0;
    }
    return absl::OkStatus();
  }

  std::vector<Target> targets_;
  size_t current_ = 0;
  uint64_t written_ = 0;
  Sha256 hasher_;
};

absl::Status Mismatch(const std::string& where, const std::string& path, absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(
      where, ": ", QuotePath(path), " ", what,
      " (the tree is not the version this package updates from)"));
}

}  // namespace

ChainResolver::ChainResolver(TreeSource* base, std::vector<PackageInput> chain, ChainOptions options)
    : base_(base), chain_(std::move(chain)), options_(options) {}

std::string ChainResolver::Where(size_t step) const {
  if (chain_.size() == 1) return chain_[step].name;
  return absl::StrCat(chain_[step].name, " (package ", step + 1, " of ", chain_.size(), ")");
}

absl::StatusOr<const VersionEntry*> ChainResolver::Previous(size_t step, const std::string& path) {
  if (step > 0) {
    auto it = view_.find(path);
    return it == view_.end() ? nullptr : &it->second;
  }
  auto cached = base_entries_.find(path);
  if (cached != base_entries_.end()) return &cached->second;
  PF_ASSIGN_OR_RETURN(TreeSource::Entry found, base_->Lookup(path));
  if (!found.exists) return nullptr;
  VersionEntry entry;
  entry.type = found.type;
  entry.mode = found.mode;
  entry.target = found.target;
  entry.content.kind = FileContent::Kind::kBase;
  entry.content.base_path = path;
  entry.content.size = found.size;
  return &base_entries_.emplace(path, std::move(entry)).first->second;
}

absl::StatusOr<Digest> ChainResolver::DigestOf(const FileContent& content) {
  if (content.digest_known) return content.digest;
  if (content.kind == FileContent::Kind::kBase) return base_->FileDigest(content.base_path);
  if (content.kind == FileContent::Kind::kRebuilt) return HashSource(*content.data);
  return absl::InternalError("output file without a digest");
}

absl::Status ChainResolver::CopyBaseFile(const FileContent& content, const std::string& to,
                                         uint32_t mode, FileSystem* fs) {
  PF_ASSIGN_OR_RETURN(Digest expected, DigestOf(content));
  PF_RETURN_IF_ERROR(CopyFile(base_->FullPath(content.base_path), to, static_cast<int>(mode), fs));
  uint64_t size = 0;
  PF_ASSIGN_OR_RETURN(Digest copied, HashFile(to, &size));
  if (copied != expected) {
    return absl::DataLossError(absl::StrCat(
        QuotePath(content.base_path), " changed while the update ran (its copy's SHA-256 is ",
        DigestToHex(copied), ", ", DigestToHex(expected), " when it was checked)"));
  }
  return absl::OkStatus();
}

absl::Status ChainResolver::VerifyOldEntries(size_t step) {
  for (const ManifestEntry& old : chain_[step].package->table.old_entries) {
    PF_ASSIGN_OR_RETURN(const VersionEntry* have, Previous(step, old.path));
    const std::string where = Where(step);
    if (have == nullptr) return Mismatch(where, old.path, "is missing");
    if (have->type != old.type) {
      return Mismatch(where, old.path,
                      absl::StrCat("is a ", EntryTypeName(have->type), ", not a ",
                                   EntryTypeName(old.type)));
    }
    if (old.type == EntryType::kSymlink && have->target != old.target) {
      return Mismatch(where, old.path, "points elsewhere");
    }
    if (old.type != EntryType::kFile) continue;
    if (have->content.size != old.size) return Mismatch(where, old.path, "has another size");
    if (chain_[step].package->table.version >= 2) continue;  // Covered by the base digest.
    PF_ASSIGN_OR_RETURN(Digest digest, DigestOf(have->content));
    if (digest != old.digest) return Mismatch(where, old.path, "has other content");
  }
  return absl::OkStatus();
}

absl::Status ChainResolver::BuildView(size_t step, VersionView* next) {
  const PackageTable& table = chain_[step].package->table;
  const bool last = step + 1 == chain_.size();
  for (const NewEntry& n : table.new_entries) {
    VersionEntry v;
    v.type = n.entry.type;
    v.mode = n.entry.mode;
    v.target = n.entry.target;
    if (n.entry.type == EntryType::kFile) {
      if (n.source == ContentSource::kKeep) {
        PF_ASSIGN_OR_RETURN(const VersionEntry* have, Previous(step, n.entry.path));
        if (have == nullptr || have->type != EntryType::kFile ||
            (table.version == 1 && have->content.size != n.entry.size)) {
          return Mismatch(Where(step), n.entry.path, "is not the file the package keeps");
        }
        v.content = have->content;
      } else if (n.source == ContentSource::kCopy) {
        const ManifestEntry& old = table.old_entries[n.old_index];
        PF_ASSIGN_OR_RETURN(const VersionEntry* have, Previous(step, old.path));
        v.content = have->content;  // Verified by VerifyOldEntries or the base digest.
        if (table.version == 1) {
          v.content.digest_known = true;
          v.content.digest = old.digest;
        }
      } else {
        v.content.kind = last ? FileContent::Kind::kOutput : FileContent::Kind::kRebuilt;
        v.content.size = n.entry.size;
        v.content.digest_known = table.version == 1;  // Else known once rebuilt.
        v.content.digest = n.entry.digest;
      }
    }
    next->emplace(n.entry.path, std::move(v));
  }
  return absl::OkStatus();
}

absl::Status ChainResolver::CheckManifestDigest(size_t step, const VersionView& next) {
  Manifest manifest;
  manifest.reserve(next.size());
  for (const auto& [path, v] : next) {
    ManifestEntry e;
    e.path = path;
    e.type = v.type;
    e.mode = v.mode;
    e.target = v.target;
    if (v.type == EntryType::kFile) {
      e.size = v.content.size;
      PF_ASSIGN_OR_RETURN(e.digest, DigestOf(v.content));
    }
    manifest.push_back(std::move(e));
  }
  const PackageTable& table = chain_[step].package->table;
  if (ManifestDigest(manifest) == table.new_manifest_digest) return absl::OkStatus();
  if (table.version >= 2) {
    // Checked after the blocks, once the base digest held: the package's own
    // entries and payloads disagree.
    return absl::DataLossError(absl::StrCat(
        Where(step), ": corrupt package: the rebuilt tree does not match its manifest digest"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      Where(step), ": the result would not match the package's manifest digest; a file the "
                   "package keeps differs from the version it updates from"));
}

absl::Status ChainResolver::CheckBaseDigest(size_t step) {
  const PackageTable& table = chain_[step].package->table;
  // The paths asked for are old entries and kept files, which VerifyOldEntries
  // and BuildView found to be files.
  auto file_at = [&](const std::string& path) -> absl::StatusOr<BaseFile> {
    PF_ASSIGN_OR_RETURN(const VersionEntry* have, Previous(step, path));
    if (have == nullptr || have->type != EntryType::kFile) {
      return Mismatch(Where(step), path, "is not a file");
    }
    BaseFile file;
    file.size = have->content.size;
    PF_ASSIGN_OR_RETURN(file.digest, DigestOf(have->content));
    return file;
  };
  PF_ASSIGN_OR_RETURN(Digest base, ComputeBaseDigest(table, file_at));
  if (base != table.base_digest) {
    return absl::FailedPreconditionError(absl::StrCat(
        Where(step), ": a file the package reads, keeps or removes has other content (the tree "
                     "is not the version this package updates from)"));
  }
  return absl::OkStatus();
}

absl::Status ChainResolver::ApplyBlocks(size_t step, VersionView* next, FileOutputs* outputs) {
  const PackageInput& input = chain_[step];
  const PackageTable& table = input.package->table;
  const bool last = step + 1 == chain_.size();
  for (size_t b = 0; b < input.package->blocks.size(); ++b) {
    const PackageBlock& block = input.package->blocks[b];
    const std::string where = absl::StrCat(Where(step), ": block ", b);
    // Old data: the sources, read through Apply's bounded buffer (never
    // mapped or loaded whole), concatenated if there are several.
    std::vector<std::unique_ptr<ByteSource>> sources;
    std::vector<const ByteSource*> parts;
    ApplyOptions apply_options;
    apply_options.max_output_bytes = block.new_bytes;
    apply_options.threads = options_.apply_threads;
    for (uint32_t s : block.sources) {
      PF_ASSIGN_OR_RETURN(const VersionEntry* have, Previous(step, table.old_entries[s].path));
      const FileContent& c = have->content;
      if (block.sources.size() == 1) {
        // One file, hashed once for all the blocks that read it (the base
        // digest's check hashed it already): a pack unpacked into loose
        // files was hashed again for every block of them.
        PF_ASSIGN_OR_RETURN(apply_options.old_digest, DigestOf(c));
      }
      if (c.kind == FileContent::Kind::kRebuilt) {
        sources.push_back(std::make_unique<SliceSource>(c.data.get(), 0, c.data->size()));
      } else {
        PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> file,
                            FileSource::Open(base_->FullPath(c.base_path)));
        sources.push_back(std::move(file));
      }
      parts.push_back(sources.back().get());
    }
    ConcatSource old_data(std::move(parts));
    // Outputs.
    std::vector<SplitSink::Target> targets;
    std::vector<std::shared_ptr<RebuiltFile>> rebuilt;  // Intermediate versions' files.
    for (uint32_t index : block.entries) {
      const ManifestEntry& e = table.new_entries[index].entry;
      SplitSink::Target t;
      t.path = e.path;
      t.size = e.size;
      if (table.version == 1) t.expected = e.digest;
      t.digest = &(*next)[e.path].content.digest;
      if (last) {
        t.outputs = outputs;
      } else {
        PF_ASSIGN_OR_RETURN(rebuilt.emplace_back(),
                            RebuiltFile::Create(e.size, options_, &scratch_, &memory_bytes_));
        t.sink = rebuilt.back()->sink();
      }
      targets.push_back(std::move(t));
    }
    SplitSink split(std::move(targets));
    SliceSource payload(input.source, block.payload_offset, block.payload_size);
    absl::Status status = Apply(old_data, payload, &split, apply_options);
    if (status.ok()) status = split.Finish();
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(where, ": ", status.message()));
    }
    for (size_t i = 0; i < block.entries.size(); ++i) {
      FileContent& content = (*next)[table.new_entries[block.entries[i]].entry.path].content;
      content.digest_known = true;
      if (!last) content.data = std::move(rebuilt[i]);
    }
  }
  return absl::OkStatus();
}

absl::Status ChainResolver::Run(FileOutputs* outputs) {
  if (chain_.empty()) return absl::InvalidArgumentError("no package to apply");
  for (size_t step = 0; step < chain_.size(); ++step) {
    for (size_t b = 0; b < chain_[step].package->blocks.size(); ++b) {
      uint64_t bytes = chain_[step].package->blocks[b].new_bytes;
      if (bytes > options_.max_block_new_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat(Where(step), ": block ", b, " rebuilds ",
                                                         bytes, " bytes, limit ",
                                                         options_.max_block_new_bytes));
      }
    }
  }
  // The installed release: what the first package reads, removes, overwrites or
  // keeps, and its directories and symlinks that the base tree holds as such.
  const PackageTable& first = chain_[0].package->table;
  for (const ManifestEntry& e : first.old_entries) base_release_paths_.insert(e.path);
  for (const NewEntry& n : first.new_entries) {
    const ManifestEntry& e = n.entry;
    if (e.type == EntryType::kFile) {
      if (n.source == ContentSource::kKeep) base_release_paths_.insert(e.path);
      continue;
    }
    absl::StatusOr<TreeSource::Entry> have = base_->Lookup(e.path);
    if (have.ok() && have->exists && have->type == e.type && have->target == e.target) {
      base_release_paths_.insert(e.path);
    }
  }
  for (size_t step = 0; step < chain_.size(); ++step) {
    // A shared scratch file per version: a version's small files keep theirs
    // alive while later versions hold one of them, then let it go.
    scratch_.reset();
    VersionView next;
    PF_RETURN_IF_ERROR(VerifyOldEntries(step));
    PF_RETURN_IF_ERROR(BuildView(step, &next));
    if (chain_[step].package->table.version == 1) {
      PF_RETURN_IF_ERROR(CheckManifestDigest(step, next));
      PF_RETURN_IF_ERROR(ApplyBlocks(step, &next, outputs));
    } else {
      // Rebuilt files' digests are known once they are written (and checked
      // by their block's payload): the old side is checked before, the whole
      // new tree after.
      PF_RETURN_IF_ERROR(CheckBaseDigest(step));
      PF_RETURN_IF_ERROR(ApplyBlocks(step, &next, outputs));
      PF_RETURN_IF_ERROR(CheckManifestDigest(step, next));
    }
    view_ = std::move(next);
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
