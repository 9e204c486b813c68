#include "client/delta_commands.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cli_args.h"
#include "client/tree_commands.h"
#include "common/byte_size.h"
#include "common/clock.h"
#include "common/file.h"
#include "common/flags.h"
#include "common/status_macros.h"
#include "core/delta/apply.h"
#include "core/delta/diff_files.h"
#include "core/tree/package.h"

namespace patchfarm {
namespace {

// `apply` writes what the user asked for, checked by SHA-256 as it goes; this
// only refuses a patch that declares an absurd size.
constexpr uint64_t kMaxApplyOutputBytes = uint64_t{1} << 40;

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// InvalidArgument if writing `out` would replace the file `input` (`diff A B
// A`) or, for a directory `input`, put a file inside the tree being read.
absl::Status CheckOutputApart(const std::string& out, const std::string& input) {
  struct stat in_st, out_st;
  if (stat(input.c_str(), &in_st) != 0) return absl::OkStatus();  // Reported when read.
  if (!S_ISDIR(in_st.st_mode)) {
    if (stat(out.c_str(), &out_st) == 0 && out_st.st_dev == in_st.st_dev &&
        out_st.st_ino == in_st.st_ino) {
      return absl::InvalidArgumentError(absl::StrCat("diff: ", out, " is ", input, ": not replaced"));
    }
    return absl::OkStatus();
  }
  char tree[PATH_MAX], dir[PATH_MAX];
  if (realpath(input.c_str(), tree) == nullptr || realpath(DirName(out).c_str(), dir) == nullptr) {
    return absl::OkStatus();
  }
  const std::string root(tree), at(dir);
  if (at == root || absl::StartsWith(at, root == "/" ? root : root + "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("diff: ", out, " is inside ", input, ", the tree being read"));
  }
  return absl::OkStatus();
}

absl::Status Diff(const std::string& old_path, const std::string& new_path,
                  const std::string& patch_path, const DiffOptions& options) {
  const absl::Duration start = SystemClock().Monotonic();
  PF_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> out,
                      AtomicFileWriter::Create(patch_path));
  CountingSink counted(out.get());
  DiffStats stats;
  PF_RETURN_IF_ERROR(
      DiffFiles(old_path, new_path, DirName(patch_path), &counted, options, &stats));
  PF_RETURN_IF_ERROR(out->Commit());
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> new_file, FileSource::Open(new_path));
  const uint64_t new_size = new_file->size();
  std::printf("%s: %llu bytes (%.3f%% of %llu), method %s, %llu ops, %.2f s%s\n",
              patch_path.c_str(), static_cast<unsigned long long>(counted.bytes()),
              new_size == 0 ? 0.0 : 100.0 * counted.bytes() / new_size,
              static_cast<unsigned long long>(new_size), PatchMethodName(stats.method),
              static_cast<unsigned long long>(stats.ops), SecondsSince(start),
              stats.bounded          ? ", bounded memory"
              : stats.near_identical ? ", near-identical: no suffix sort"
                                     : "");
  return absl::OkStatus();
}

// Applies a chain of file patches. Old, the intermediate versions of a chain
// (in anonymous scratch files beside OUT) and the patches are read in bounded
// pieces (core/delta/apply.h), never mapped or loaded whole.
absl::Status Apply(const std::string& old_path, const std::vector<std::string>& patch_paths,
                   const std::string& out_path) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> old_file, FileSource::Open(old_path));
  struct stat st;
  int mode = stat(old_path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
  PF_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> out,
                      AtomicFileWriter::Create(out_path, mode));
  std::unique_ptr<ScratchFile> previous;
  const ByteSource* old_source = old_file.get();
  ApplyOptions options;
  options.max_output_bytes = kMaxApplyOutputBytes;
  options.threads = 2;  // FileSource and ScratchFile allow concurrent reads.
  for (size_t i = 0; i < patch_paths.size(); ++i) {
    const std::string& patch_path = patch_paths[i];
    PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> patch, FileSource::Open(patch_path));
    if (IsPackage(*patch)) {
      return absl::InvalidArgumentError(
          absl::StrCat(patch_path, " is a tree package, but ", old_path, " is a file"));
    }
    const bool last = i + 1 == patch_paths.size();
    std::unique_ptr<ScratchFile> next;
    if (!last) {
      PF_ASSIGN_OR_RETURN(next, ScratchFile::Create(DirName(out_path)));
    }
    absl::Status status = Apply(*old_source, *patch,
                                last ? static_cast<ByteSink*>(out.get()) : next.get(), options);
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(patch_path, ": ", status.message()));
    }
    previous = std::move(next);
    old_source = previous.get();
  }
  return out->Commit();
}

absl::Status Info(const std::string& patch_path) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> patch, FileSource::Open(patch_path));
  if (IsPackage(*patch)) return DescribePackage(patch_path);
  absl::StatusOr<PatchHeader> header = InspectPatch(*patch);
  if (!header.ok()) {
    return absl::Status(header.status().code(),
                        absl::StrCat(patch_path, ": ", header.status().message()));
  }
  std::printf("format: patchfarm delta v%d\n", header->version);
  std::printf("method: %s\n", PatchMethodName(header->method));
  std::printf("patch_bytes: %llu\n", static_cast<unsigned long long>(patch->size()));
  std::printf("old_bytes: %llu\nold_sha256: %s\n",
              static_cast<unsigned long long>(header->old_size),
              DigestToHex(header->old_digest).c_str());
  std::printf("new_bytes: %llu\nnew_sha256: %s\n",
              static_cast<unsigned long long>(header->new_size),
              DigestToHex(header->new_digest).c_str());
  // Streams by name; a joined patch's frames add up to its diff and extra.
  std::vector<std::pair<std::string, std::vector<StreamExtent>>> streams;
  if (HasThreeStreams(header->method)) {
    streams = {{"control", {header->streams[kControlStream]}},
               {"diff", header->DiffFrames()},
               {"extra", header->ExtraFrames()}};
  } else {
    streams = {{"content", header->streams}};
  }
  for (const auto& [name, frames] : streams) {
    uint64_t compressed = 0, raw = 0;
    for (const StreamExtent& frame : frames) {
      compressed += frame.compressed_size;
      raw += frame.raw_size;
    }
    std::printf("stream %s: %llu bytes -> %llu bytes%s\n", name.c_str(),
                static_cast<unsigned long long>(compressed), static_cast<unsigned long long>(raw),
                frames.size() > 1 ? absl::StrCat(" (", frames.size(), " frames)").c_str() : "");
  }
  return absl::OkStatus();
}

}  // namespace

int RunDiffCommand(const std::vector<std::string>& args) {
  static const char* kUsage =
      "diff [--level N] [--threads N] [--no-prefix] [--fast-apply] [--max-memory SIZE] "
      "OLD NEW PATCH\n"
      "  --max-memory SIZE  bytes, or with K/M/G (default: half the memory it may use);\n"
      "                     larger file pairs are diffed in bounded memory";
  DiffOptions options;
  options.max_memory = MemoryLimitBytes() / 2;
  std::vector<std::string> paths;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--no-prefix") {
      options.try_zstd_prefix = false;
    } else if (arg == "--fast-apply") {
      options.fast_apply = true;
    } else if (arg == "--max-memory") {
      if (i + 1 >= args.size() || !ParseByteSize(args[i + 1], &options.max_memory)) {
        std::fprintf(stderr, "patchfarm: bad value for --max-memory: '%.64s'\n",
                     i + 1 < args.size() ? args[i + 1].c_str() : "");
        return Usage(kUsage);
      }
      ++i;
    } else if (arg == "--level" || arg == "--threads") {
      int64_t value = 0;
      std::string error;
      if (i + 1 >= args.size() ||
          !ParseCount(args[i + 1], 1, arg == "--level" ? 22 : 256, &value, &error)) {
        std::fprintf(stderr, "patchfarm: bad value for %s: '%.64s': %s\n", arg.c_str(),
                     i + 1 < args.size() ? args[i + 1].c_str() : "", error.c_str());
        return Usage(kUsage);
      }
      (arg == "--level" ? options.level : options.threads) = static_cast<int>(value);
      ++i;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return Usage(kUsage);
    } else {
      paths.push_back(arg);
    }
  }
  if (paths.size() != 3) return Usage(kUsage);
  for (const std::string& input : {paths[0], paths[1]}) {
    if (absl::Status apart = CheckOutputApart(paths[2], input); !apart.ok()) return Fail(apart);
  }
  const bool old_is_dir = IsDirectory(paths[0]);
  if (old_is_dir != IsDirectory(paths[1])) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("diff: ", paths[0], " and ", paths[1],
                     " must both be files or both be directories")));
  }
  absl::Status status;
  if (old_is_dir) {
    TreeDiffOptions tree_options;
    tree_options.delta = options;
    tree_options.scratch_dir = DirName(paths[2]);
    status = DiffTrees(paths[0], paths[1], paths[2], tree_options);
  } else {
    status = Diff(paths[0], paths[1], paths[2], options);
  }
  return status.ok() ? 0 : Fail(status);
}

int RunApplyCommand(const std::vector<std::string>& args) {
  static const char* kUsage =
      "apply OLD PATCH... OUT | apply --in-place INSTALL_DIR PACKAGE...";
  if (!args.empty() && args[0] == "--in-place") {
    if (args.size() < 3 || args[1].empty()) return Usage(kUsage);
    std::vector<std::string> packages(args.begin() + 2, args.end());
    absl::Status status = ApplyPackagesInPlace(args[1], packages);
    return status.ok() ? 0 : Fail(status);
  }
  if (args.size() < 3) return Usage(kUsage);
  for (const std::string& arg : args) {
    if (arg.empty() || (arg.size() > 1 && arg[0] == '-')) return Usage(kUsage);
  }
  std::vector<std::string> patches(args.begin() + 1, args.end() - 1);
  absl::Status status = IsDirectory(args[0])
                            ? ApplyPackagesToNewTree(args[0], patches, args.back())
                            : Apply(args[0], patches, args.back());
  return status.ok() ? 0 : Fail(status);
}

int RunRecoverCommand(const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("recover INSTALL_DIR");
  absl::Status status = RecoverInstallCommand(args[0]);
  return status.ok() ? 0 : Fail(status);
}

int RunInfoCommand(const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("info PATCH");
  absl::Status status = Info(args[0]);
  return status.ok() ? 0 : Fail(status);
}

}  // namespace patchfarm
