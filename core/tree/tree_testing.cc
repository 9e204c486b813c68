#include "core/tree/tree_testing.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/directory.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "core/tree/tree_path.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  // Text-like content with repeats, so deltas have something to find.
  static const char* kWords[] = {"release ", "patch ", "update ", "farm ", "block ",
                                 "\n", "{", "}", "0x1f ", "delta "};
  std::string out;
  while (out.size() < n) {
    if (rng() % 8 == 0) {
      out.push_back(static_cast<char>(rng()));
    } else {
      out += kWords[rng() % 10];
    }
  }
  out.resize(n);
  return out;
}

std::string Edit(std::mt19937_64& rng, std::string content) {
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    size_t at = content.empty() ? 0 : rng() % content.size();
    switch (rng() % 3) {
      case 0:
        content.insert(at, RandomBytes(rng, 1 + rng() % 64));
        break;
      case 1:
        content.erase(at, rng() % 48);
        break;
      default:
        if (!content.empty()) content[at] = static_cast<char>(rng());
    }
  }
  return content;
}

std::string RandomName(std::mt19937_64& rng) {
  static const char* kNames[] = {"bin", "lib", "data", "share", "assets", "naïve", "日本語",
                                 "émoji-😀", "a b", "x.y", "README", "levels", "core.pak"};
  return absl::StrCat(kNames[rng() % 13], rng() % 100);
}

std::string RandomDir(std::mt19937_64& rng, const TreeSpec& spec) {
  std::vector<std::string> dirs = {""};
  for (const auto& [path, e] : spec) {
    if (e.type == EntryType::kDirectory) dirs.push_back(path);
  }
  return dirs[rng() % dirs.size()];
}

std::string Child(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : absl::StrCat(dir, "/", name);
}

bool ParentIsDirectory(const TreeSpec& spec, const std::string& path) {
  std::string parent(ParentPath(path));
  if (parent.empty()) return true;
  auto it = spec.find(parent);
  return it != spec.end() && it->second.type == EntryType::kDirectory;
}

// Removes `path` and, for a directory, everything under it.
void Erase(TreeSpec* spec, const std::string& path) {
  std::string prefix = path + "/";
  for (auto it = spec->begin(); it != spec->end();) {
    if (it->first == path || it->first.compare(0, prefix.size(), prefix) == 0) {
      it = spec->erase(it);
    } else {
      ++it;
    }
  }
}

std::string FreshPath(std::mt19937_64& rng, const TreeSpec& spec) {
  while (true) {
    std::string path = Child(RandomDir(rng, spec), RandomName(rng));
    if (spec.count(path) == 0) return path;
  }
}

}  // namespace

absl::Status WriteTree(const std::string& root, const TreeSpec& spec) {
  if (mkdir(root.c_str(), 0755) != 0) return ErrnoToStatus(errno, "mkdir", root);
  std::vector<std::pair<std::string, uint32_t>> dir_modes;
  for (const auto& [path, e] : spec) {
    std::string parent(ParentPath(path));
    if (!parent.empty()) PF_RETURN_IF_ERROR(MakeDirectories(root, parent));
    std::string full = JoinPath(root, path);
    if (e.type == EntryType::kDirectory) {
      PF_RETURN_IF_ERROR(MakeDirectories(root, path));
      dir_modes.emplace_back(full, e.mode);
    } else if (e.type == EntryType::kSymlink) {
      if (symlink(e.target.c_str(), full.c_str()) != 0) return ErrnoToStatus(errno, "symlink", full);
    } else {
      PF_ASSIGN_OR_RETURN(std::unique_ptr<FileWriter> w, FileWriter::Create(full, e.mode));
      PF_RETURN_IF_ERROR(w->Append(e.content));
      PF_RETURN_IF_ERROR(w->Close());
    }
  }
  for (auto it = dir_modes.rbegin(); it != dir_modes.rend(); ++it) {
    if (chmod(it->first.c_str(), it->second) != 0) return ErrnoToStatus(errno, "chmod", it->first);
  }
  return absl::OkStatus();
}

std::string NewTempPath(const std::string& name) {
  static int counter = 0;
  const char* base = std::getenv("TEST_TMPDIR");
  return absl::StrCat(base != nullptr ? base : "/tmp", "/", name, "-", getpid(), "-", ++counter);
}

TreeSpec RandomTree(std::mt19937_64& rng, int files) {
  TreeSpec spec;
  for (int i = 0; i < files / 8 + 1; ++i) {
    std::string path = FreshPath(rng, spec);
    spec[path] = SpecEntry{EntryType::kDirectory, 0755, "", ""};
  }
  std::string deep = "deep";
  for (int i = 0; i < 30; ++i) {
    spec[deep] = SpecEntry{EntryType::kDirectory, 0755, "", ""};
    deep += "/d" + std::to_string(i);
  }
  spec[deep + ".txt"] = SpecEntry{EntryType::kFile, 0644, "at the bottom", ""};
  spec["empty-dir"] = SpecEntry{EntryType::kDirectory, 0700, "", ""};
  for (int i = 0; i < files; ++i) {
    std::string path = FreshPath(rng, spec);
    SpecEntry e;
    size_t size = rng() % 5 == 0 ? 0 : rng() % 3 == 0 ? rng() % 20000 : rng() % 600;
    e.content = RandomBytes(rng, size);
    e.mode = rng() % 4 == 0 ? 0755 : 0644;
    spec[path] = e;
  }
  std::vector<std::string> files_now;
  for (const auto& [path, e] : spec) {
    if (e.type == EntryType::kFile) files_now.push_back(path);
  }
  for (int i = 0; i < 3 && !files_now.empty(); ++i) {
    std::string target = files_now[rng() % files_now.size()];
    std::string link = Child(std::string(ParentPath(target)), absl::StrCat("link", i));
    if (spec.count(link) == 0) {
      spec[link] = SpecEntry{EntryType::kSymlink, 0, "", std::string(target.substr(target.rfind('/') + 1))};
    }
  }
  return spec;
}

TreeSpec NextRelease(std::mt19937_64& rng, const TreeSpec& spec) {
  TreeSpec next = spec;
  std::vector<std::string> files;
  for (const auto& [path, e] : next) {
    if (e.type == EntryType::kFile) files.push_back(path);
  }
  auto pick = [&]() -> std::string {
    while (!files.empty()) {
      size_t i = rng() % files.size();
      std::string path = files[i];
      files.erase(files.begin() + static_cast<long>(i));
      if (next.count(path) != 0) return path;
    }
    return "";
  };
  int changes = 3 + static_cast<int>(rng() % 10);
  for (int c = 0; c < changes; ++c) {
    std::string path = pick();
    if (path.empty()) break;
    SpecEntry e = next[path];
    switch (rng() % 9) {
      case 0:
      case 1:
        next[path].content = Edit(rng, e.content);
        break;
      case 2: {  // Renamed, maybe edited.
        Erase(&next, path);
        if (rng() % 2) e.content = Edit(rng, e.content);
        next[FreshPath(rng, next)] = e;
        break;
      }
      case 3: {  // Moved into a new directory.
        Erase(&next, path);
        std::string dir = FreshPath(rng, next);
        next[dir] = SpecEntry{EntryType::kDirectory, 0755, "", ""};
        next[Child(dir, "moved")] = e;
        break;
      }
      case 4:
        Erase(&next, path);
        break;
      case 5:
        next[path].mode = e.mode == 0755 ? 0644 : 0755;
        break;
      case 6: {  // Copied and the copy edited.
        e.content = Edit(rng, e.content);
        next[FreshPath(rng, next)] = e;
        break;
      }
      case 7: {  // A file becomes a directory.
        Erase(&next, path);
        next[path] = SpecEntry{EntryType::kDirectory, 0755, "", ""};
        next[Child(path, "inside")] = e;
        break;
      }
      default:
        next[FreshPath(rng, next)] = SpecEntry{EntryType::kFile, 0644, RandomBytes(rng, rng() % 3000), ""};
    }
  }
  if (rng() % 3 == 0) {  // A directory and all it holds removed.
    std::string dir = RandomDir(rng, next);
    if (!dir.empty() && dir.compare(0, 4, "deep") != 0) Erase(&next, dir);
  }
  // Symlinks: retarget some, drop those whose parent went away.
  for (auto& [path, e] : next) {
    if (e.type == EntryType::kSymlink && rng() % 3 == 0) e.target = "elsewhere";
  }
  for (auto it = next.begin(); it != next.end();) {
    it = ParentIsDirectory(next, it->first) ? std::next(it) : next.erase(it);
  }
  return next;
}

Manifest ScanOrDie(const std::string& root) {
  absl::StatusOr<Manifest> m = ScanTree(root);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : Manifest();
}

}  // namespace patchfarm
