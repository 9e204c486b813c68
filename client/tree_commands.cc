#include "client/tree_commands.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "core/tree/in_place.h"
#include "core/tree/package.h"
#include "core/tree/tree_apply.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

absl::Status WithPath(const std::string& path, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

struct OpenPackage {
  std::unique_ptr<FileSource> source;
  Package package;
};

absl::StatusOr<OpenPackage> Open(const std::string& path) {
  OpenPackage open;
  PF_ASSIGN_OR_RETURN(open.source, FileSource::Open(path));
  absl::StatusOr<Package> package = ReadPackage(*open.source);
  if (!package.ok()) return WithPath(path, package.status());
  open.package = std::move(*package);
  return open;
}

}  // namespace

absl::Status DiffTrees(const std::string& old_dir, const std::string& new_dir,
                       const std::string& package_path, const TreeDiffOptions& options) {
  const absl::Duration start = SystemClock().Monotonic();
  PF_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> out,
                      AtomicFileWriter::Create(package_path));
  TreeDiffStats stats;
  PF_RETURN_IF_ERROR(MakePackage(old_dir, new_dir, options, out.get(), &stats));
  PF_RETURN_IF_ERROR(out->Commit());
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> written, FileSource::Open(package_path));
  std::printf(
      "%s: %llu bytes; %llu entries: %llu kept, %llu copied, %llu delta, %llu whole, "
      "%llu removed; %llu blocks rebuilding %llu bytes%s; %.2f s\n",
      package_path.c_str(), U(written->size()), U(stats.new_entries), U(stats.kept),
      U(stats.copied), U(stats.deltas), U(stats.whole), U(stats.removed), U(stats.blocks),
      U(stats.block_new_bytes),
      stats.bounded_blocks == 0
          ? ""
          : absl::StrCat(" (", stats.bounded_blocks, " in bounded memory)").c_str(),
      SecondsSince(start));
  return absl::OkStatus();
}

// The packages, open, and the chain over them (which points into `open`).
struct OpenChain {
  std::vector<OpenPackage> open;
  std::vector<PackageInput> chain;
};

absl::StatusOr<std::unique_ptr<OpenChain>> OpenAll(const std::vector<std::string>& packages) {
  auto all = std::make_unique<OpenChain>();
  for (const std::string& path : packages) {
    PF_ASSIGN_OR_RETURN(OpenPackage p, Open(path));
    all->open.push_back(std::move(p));
  }
  for (size_t i = 0; i < packages.size(); ++i) {
    all->chain.push_back(PackageInput{packages[i], all->open[i].source.get(), &all->open[i].package});
  }
  return all;
}

absl::Status ApplyPackagesToNewTree(const std::string& old_dir,
                                    const std::vector<std::string>& packages,
                                    const std::string& out_dir) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<OpenChain> all, OpenAll(packages));
  ChainOptions options;
  options.scratch_dir = DirName(out_dir);  // Large files of intermediate versions.
  options.apply_threads = 2;               // FileSources read from two threads.
  return ApplyToNewTree(old_dir, all->chain, out_dir, options);
}

absl::Status ApplyPackagesInPlace(const std::string& install_dir,
                                  const std::vector<std::string>& packages) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<OpenChain> all, OpenAll(packages));
  InPlaceReport report;
  InPlaceOptions options;
  options.chain.scratch_dir = install_dir;  // Large files of intermediate versions.
  options.chain.apply_threads = 2;          // FileSources read from two threads.
  PF_RETURN_IF_ERROR(ApplyInPlace(install_dir, all->chain, options, &report));
  if (report.recovery != Recovery::kNone) {
    std::printf("%s: first %s\n", install_dir.c_str(), RecoveryName(report.recovery));
  }
  std::printf("%s: updated in place (%llu changes)\n", install_dir.c_str(), U(report.changes));
  return absl::OkStatus();
}

absl::Status DescribePackage(const std::string& package_path) {
  PF_ASSIGN_OR_RETURN(OpenPackage open, Open(package_path));
  const PackageTable& t = open.package.table;
  const bool v1 = t.version == 1;  // Version 2 stores no digests of files.
  std::printf("format: patchfarm tree package v%d\n", t.version);
  std::printf("package_bytes: %llu\n", U(open.package.size));
  std::printf("new_manifest_sha256: %s\n", DigestToHex(t.new_manifest_digest).c_str());
  if (!v1) std::printf("base_sha256: %s\n", DigestToHex(t.base_digest).c_str());
  std::printf("new_entries: %zu\nold_entries_needed: %zu\nblocks: %zu\n", t.new_entries.size(),
              t.old_entries.size(), open.package.blocks.size());
  for (size_t i = 0; i < open.package.blocks.size(); ++i) {
    const PackageBlock& b = open.package.blocks[i];
    std::printf("block %zu: %llu payload bytes; %zu files, %llu bytes, from %zu sources, %llu bytes\n",
                i, U(b.payload_size), b.entries.size(), U(b.new_bytes), b.sources.size(),
                U(b.old_bytes));
  }
  std::printf("new tree (what  mode  size  sha256  path  [<- source]):\n");
  for (const NewEntry& n : t.new_entries) {
    const ManifestEntry& e = n.entry;
    if (e.type == EntryType::kDirectory) {
      std::printf("  dir     %04o  -  -  %s\n", e.mode, QuotePath(e.path).c_str());
    } else if (e.type == EntryType::kSymlink) {
      std::printf("  symlink -  -  -  %s -> %s\n", QuotePath(e.path).c_str(),
                  QuotePath(e.target).c_str());
    } else {
      std::string source;
      const char* what = ContentSourceName(n.source);
      if (n.old_index != kNoOldEntry) {
        source = " <- " + QuotePath(t.old_entries[n.old_index].path);
      } else if (n.source == ContentSource::kBlock) {
        what = "whole";
      }
      if (n.source == ContentSource::kBlock && n.old_index != kNoOldEntry) what = "delta";
      std::string digest = "-";
      if (v1 && n.source == ContentSource::kBlock) digest = DigestToHex(e.digest);
      if (v1 && n.source == ContentSource::kCopy) {
        digest = DigestToHex(t.old_entries[n.old_index].digest);
      }
      const bool size_stored = v1 || n.source != ContentSource::kKeep;
      std::printf("  %-7s %04o  %s  %s  %s%s\n", what, e.mode,
                  size_stored ? std::to_string(e.size).c_str() : "-", digest.c_str(),
                  QuotePath(e.path).c_str(), source.c_str());
    }
  }
  std::printf("old entries needed (removed?  type  size  sha256  path):\n");
  for (const ManifestEntry& e : t.old_entries) {
    auto it = std::lower_bound(t.new_entries.begin(), t.new_entries.end(), e.path,
                               [](const NewEntry& n, const std::string& p) { return n.entry.path < p; });
    bool removed = it == t.new_entries.end() || it->entry.path != e.path;
    std::printf("  %s %-7s %llu  %s  %s\n", removed ? "remove" : "read  ", EntryTypeName(e.type), U(e.size),
                v1 && e.type == EntryType::kFile ? DigestToHex(e.digest).c_str() : "-",
                QuotePath(e.path).c_str());
  }
  return absl::OkStatus();
}

absl::Status RecoverInstallCommand(const std::string& install_dir) {
  PF_ASSIGN_OR_RETURN(Recovery recovery, RecoverInstall(install_dir));
  std::printf("%s: %s\n", install_dir.c_str(),
              recovery == Recovery::kNone ? "nothing to recover" : RecoveryName(recovery));
  return absl::OkStatus();
}

}  // namespace patchfarm
