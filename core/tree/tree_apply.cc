#include "core/tree/tree_apply.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/directory.h"
#include "common/file.h"
#include "common/interrupt_paths.h"
#include "common/status_macros.h"
#include "core/tree/base_tree.h"
#include "core/tree/package.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

// Rebuilt files go straight to their place in the new tree.
class DirectoryOutputs : public FileOutputs {
 public:
  explicit DirectoryOutputs(std::string root) : root_(std::move(root)) {}

  absl::StatusOr<ByteSink*> Open(const std::string& path) override {
    const std::string parent(ParentPath(path));
    if (!parent.empty() && made_.count(parent) == 0) {
      // Made below the deepest directory made already: from the root for
      // each, 2,000 nested directories took 3.5 minutes.
      std::string made = parent;
      while (!made.empty() && made_.count(made) == 0) made = std::string(ParentPath(made));
      PF_RETURN_IF_ERROR(MakeDirectories(made.empty() ? root_ : JoinPath(root_, made),
                                         made.empty() ? parent : parent.substr(made.size() + 1)));
      for (std::string d = parent; d != made; d = std::string(ParentPath(d))) made_.insert(d);
    }
    PF_ASSIGN_OR_RETURN(std::unique_ptr<FileWriter> writer,
                        FileWriter::Create(JoinPath(root_, path), 0600));
    writer_ = std::move(writer);
    return writer_.get();
  }

  absl::Status Close(const std::string&) override {
    absl::Status status = writer_->Close();
    writer_.reset();
    return status;
  }

 private:
  std::string root_;
  std::set<std::string> made_;          // Directories made so far.
  std::unique_ptr<FileWriter> writer_;  // The file being written.
};

absl::Status LayOut(ChainResolver* resolver, const std::string& root) {
  const VersionView& view = resolver->final_view();
  std::vector<std::pair<std::string, uint32_t>> directories;
  for (const auto& [path, v] : view) {
    std::string full = JoinPath(root, path);
    switch (v.type) {
      case EntryType::kDirectory:  // Its parent came earlier in path order.
        if (mkdir(full.c_str(), 0755) != 0 && errno != EEXIST) {
          return ErrnoToStatus(errno, "mkdir", full);
        }
        directories.emplace_back(path, v.mode);
        break;
      case EntryType::kSymlink:
        if (symlink(v.target.c_str(), full.c_str()) != 0) {
          return ErrnoToStatus(errno, "symlink", full);
        }
        break;
      case EntryType::kFile: {
        const FileContent& c = v.content;
        if (c.kind == FileContent::Kind::kBase) {
          PF_RETURN_IF_ERROR(resolver->CopyBaseFile(c, full, v.mode, DefaultFileSystem()));
        } else if (c.kind == FileContent::Kind::kRebuilt) {
          PF_ASSIGN_OR_RETURN(std::unique_ptr<FileWriter> writer, FileWriter::Create(full, v.mode));
          PF_RETURN_IF_ERROR(CopySource(*c.data, writer.get()));
          PF_RETURN_IF_ERROR(writer->Close());
        } else {
          PF_RETURN_IF_ERROR(Chmod(full, v.mode));
        }
        break;
      }
    }
  }
  // Directory modes last, deepest first, so a read-only directory is filled first.
  std::sort(directories.begin(), directories.end(), [](const auto& a, const auto& b) {
    return PathDepth(a.first) > PathDepth(b.first);
  });
  for (const auto& [path, mode] : directories) {
    PF_RETURN_IF_ERROR(Chmod(JoinPath(root, path), mode));
  }
  return absl::OkStatus();
}

// Rebuilt files are hashed (by the resolver) and dropped.
class DiscardedOutputs : public FileOutputs {
 public:
  absl::StatusOr<ByteSink*> Open(const std::string&) override { return &sink_; }
  absl::Status Close(const std::string&) override { return absl::OkStatus(); }

 private:
  class Discard : public ByteSink {
   public:
    absl::Status Append(absl::string_view) override { return absl::OkStatus(); }
  };
  Discard sink_;
};

}  // namespace

absl::Status CheckPackageRebuilds(TreeSource* old_tree, const PackageInput& package,
                                  const ChainOptions& options) {
  ChainResolver resolver(old_tree, {package}, options);
  DiscardedOutputs outputs;
  return resolver.Run(&outputs);
}

absl::StatusOr<std::string> WhyNotRebuilt(const std::string& name,
                                          const std::string& package_path,
                                          const Digest& package_digest,
                                          const ByteSource& package, const Manifest& from,
                                          const Manifest& to, const BlobLocator& locate) {
  PF_ASSIGN_OR_RETURN(Package read, ReadPackage(package));
  // Blocks read their sources for what each copies (a source is hashed
  // once): a package may name one big file in many blocks and cost its
  // checker, and every updater, that many reads. Those naming far more
  // than both releases hold are refused unchecked.
  uint64_t reads = 0, releases = 0;
  for (const PackageBlock& block : read.blocks) {
    for (uint32_t s : block.sources) reads += read.table.old_entries[s].size;
  }
  for (const Manifest* tree : {&from, &to}) {
    for (const ManifestEntry& e : *tree) releases += e.size;
  }
  if (reads > kMaxCheckReadFactor * releases + kCheckReadSlack) {
    return absl::StrCat("its blocks read ", reads, " bytes of old files, over ",
                        kMaxCheckReadFactor, " times both releases' ", releases, " bytes");
  }
  absl::Status fetched;  // A file of `from` the caller could not give: its error.
  ManifestTree from_tree(from, [&](const ManifestEntry& e) -> std::string {
    absl::StatusOr<std::string> path = locate(e.digest);
    if (path.ok()) return *path;
    if (fetched.ok()) fetched = path.status();
    return "/nonexistent/blob";
  });
  const absl::Status rebuilt = CheckPackageRebuilds(&from_tree, {name, &package, &read});
  PF_RETURN_IF_ERROR(fetched);
  if (rebuilt.ok()) return std::string();
  // What the package can cause; anything else (an I/O error) is the
  // caller's error, which it tries again.
  if (!absl::IsDataLoss(rebuilt) && !absl::IsFailedPrecondition(rebuilt) &&
      !absl::IsResourceExhausted(rebuilt) && !absl::IsInvalidArgument(rebuilt)) {
    return rebuilt;
  }
  // Not the package's fault either if it, or a file it read, is not what
  // its digest says (a cached blob changed on disk).
  std::set<Digest> read_digests = {package_digest};  // Old files by `from`: version 2 tables carry none.
  for (const PackageBlock& block : read.blocks) {
    for (uint32_t s : block.sources) {
      absl::StatusOr<Digest> old = from_tree.FileDigest(read.table.old_entries[s].path);
      if (old.ok()) read_digests.insert(*old);
    }
  }
  for (const Digest& blob : read_digests) {
    PF_ASSIGN_OR_RETURN(std::string blob_path,
                        blob == package_digest ? package_path : locate(blob));
    uint64_t size = 0;
    PF_ASSIGN_OR_RETURN(Digest have, HashFile(blob_path, &size));
    if (have != blob) {
      return absl::DataLossError(absl::StrCat("checking ", name, ": ", blob_path,
                                              " should hold blob ", DigestToHex(blob),
                                              " and does not"));
    }
  }
  return std::string(rebuilt.message());
}

absl::Status ApplyToNewTree(const std::string& old_root, const std::vector<PackageInput>& chain,
                            const std::string& out_root, const ChainOptions& options) {
  struct stat st;
  if (lstat(out_root.c_str(), &st) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(out_root, " already exists"));
  }
  if (stat(old_root.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat", old_root);
  if (!S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(old_root + ": not a directory");
  const std::string partial = absl::StrCat(out_root, ".partial-", getpid());
  PF_RETURN_IF_ERROR(RemoveTree(partial));  // Left by an earlier process with our pid.
  if (mkdir(partial.c_str(), 0755) != 0) return ErrnoToStatus(errno, "mkdir", partial);
  RemoveOnInterrupt remove_on_interrupt(partial);

  absl::Status status = [&]() -> absl::Status {
    BaseTree base(old_root);
    ChainResolver resolver(&base, chain, options);
    DirectoryOutputs outputs(partial);
    PF_RETURN_IF_ERROR(resolver.Run(&outputs));
    PF_RETURN_IF_ERROR(LayOut(&resolver, partial));
    PF_RETURN_IF_ERROR(SyncFileSystem(partial));
    // Never over something that appeared at out_root meanwhile.
    if (renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, out_root.c_str(), RENAME_NOREPLACE) != 0) {
      return ErrnoToStatus(errno, "rename to", out_root);
    }
    size_t slash = out_root.find_last_of('/');
    return FsyncDirectory(slash == std::string::npos ? "." : slash == 0 ? "/" : out_root.substr(0, slash));
  }();
  if (!status.ok()) RemoveTree(partial).IgnoreError();
  return status;
}

}  // namespace patchfarm
