#include "core/tree/in_place.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/file_system.h"
#include "common/status_macros.h"
#include "core/tree/install_state.h"
#include "core/tree/journal.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

// Rebuilt files of the last version go to numbered files in the staging area.
class StagingOutputs : public FileOutputs {
 public:
  StagingOutputs(const StateDir* dir, uint32_t* next_id) : dir_(dir), next_id_(next_id) {}

  absl::StatusOr<ByteSink*> Open(const std::string& path) override {
    uint32_t id = (*next_id_)++;
    PF_ASSIGN_OR_RETURN(writer_, FileWriter::Create(dir_->Staged(id), 0600, dir_->fs));
    ids_[path] = id;
    return writer_.get();
  }
  absl::Status Close(const std::string&) override {
    absl::Status status = writer_->Close();
    writer_.reset();
    return status;
  }
  uint32_t IdOf(const std::string& path) const { return ids_.at(path); }

 private:
  const StateDir* dir_;
  uint32_t* next_id_;
  std::unique_ptr<FileWriter> writer_;
  std::map<std::string, uint32_t> ids_;
};

// Works out the switch from the install's current state to the final version,
// staging what is not staged yet.
class SwitchPlanner {
 public:
  SwitchPlanner(const StateDir& dir, BaseTree* base, ChainResolver* resolver,
                StagingOutputs* outputs, uint32_t* next_id)
      : dir_(dir), base_(base), resolver_(resolver), outputs_(outputs), next_id_(next_id) {}

  absl::StatusOr<Journal> Plan() {
    const VersionView& view = resolver_->final_view();
    const std::set<std::string>& release = resolver_->base_release_paths();
    for (const std::string& path : release) {
      if (view.count(path) != 0) continue;
      PF_ASSIGN_OR_RETURN(BaseTree::Entry e, base_->Lookup(path));
      if (!e.exists) continue;
      if (e.type == EntryType::kDirectory) {
        AddRemoveDirectory(path, e.mode);
      } else {
        removes_.push_back(Op(JournalOp::Kind::kRemove, path));
        removes_.back().id = (*next_id_)++;
      }
    }
    for (const auto& [path, v] : view) PF_RETURN_IF_ERROR(PlanEntry(path, v));
    std::sort(rmdirs_.begin(), rmdirs_.end(), [](const JournalOp& a, const JournalOp& b) {
      return PathDepth(a.path) > PathDepth(b.path);
    });
    // Deepest first: a directory turns read-only only after its contents change.
    std::stable_sort(chmods_.begin(), chmods_.end(), [](const JournalOp& a, const JournalOp& b) {
      return PathDepth(a.path) > PathDepth(b.path);
    });
    Journal journal;
    for (auto* ops : {&removes_, &rmdirs_, &mkdirs_, &replaces_, &chmods_}) {
      journal.ops.insert(journal.ops.end(), ops->begin(), ops->end());
    }
    return journal;
  }

 private:
  static JournalOp Op(JournalOp::Kind kind, const std::string& path) {
    JournalOp op;
    op.kind = kind;
    op.path = path;
    return op;
  }

  void AddRemoveDirectory(const std::string& path, uint32_t mode) {
    JournalOp op = Op(JournalOp::Kind::kRemoveDirectory, path);
    op.old_mode = mode;
    rmdirs_.push_back(op);
  }

  // OK if the directory at `path` will be empty once the release's files in it
  // are removed, so that a non-directory can take its place.
  absl::Status CheckWillEmpty(const std::string& path) {
    const VersionView& view = resolver_->final_view();
    const std::set<std::string>& release = resolver_->base_release_paths();
    PF_ASSIGN_OR_RETURN(std::vector<std::string> names, dir_.fs->ListDirectory(dir_.Path(path)));
    std::sort(names.begin(), names.end());  // Deterministic messages.
    for (const std::string& name : names) {
      const std::string child = absl::StrCat(path, "/", name);
      if (release.count(child) == 0 || view.count(child) != 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            QuotePath(path), " holds ", QuotePath(child),
            ", which is not part of the installed release; the new version has a file there"));
      }
      PF_ASSIGN_OR_RETURN(BaseTree::Entry e, base_->Lookup(child));
      if (e.exists && e.type == EntryType::kDirectory) PF_RETURN_IF_ERROR(CheckWillEmpty(child));
    }
    return absl::OkStatus();
  }

  // Makes room for a non-directory at `path`; sets *existed if something
  // (a file or symlink) will be displaced.
  absl::Status Displace(const std::string& path, const BaseTree::Entry& e, bool* existed) {
    *existed = false;
    if (!e.exists) return absl::OkStatus();
    if (e.type != EntryType::kDirectory) {
      *existed = true;
      return absl::OkStatus();
    }
    if (resolver_->base_release_paths().count(path) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          QuotePath(path), " is a directory not part of the installed release; the new "
                           "version has a file there"));
    }
    PF_RETURN_IF_ERROR(CheckWillEmpty(path));
    AddRemoveDirectory(path, e.mode);
    return absl::OkStatus();
  }

  // True if a parent of `path` is a directory the switch creates: nothing is
  // there yet, whatever the install holds now under that name.
  bool UnderNewDirectory(const std::string& path) const {
    for (absl::string_view p = ParentPath(path); !p.empty(); p = ParentPath(p)) {
      if (new_directories_.count(std::string(p)) != 0) return true;
    }
    return false;
  }

  absl::Status PlanEntry(const std::string& path, const VersionEntry& v) {
    BaseTree::Entry e;
    if (!UnderNewDirectory(path)) {
      PF_ASSIGN_OR_RETURN(e, base_->Lookup(path));
    }
    if (v.type == EntryType::kDirectory) {
      if (e.exists && e.type == EntryType::kDirectory) {
        if (e.mode != v.mode) AddChmod(path, e.mode, v.mode, /*directory=*/true);
        return absl::OkStatus();
      }
      if (e.exists) {
        if (e.type == EntryType::kSymlink && resolver_->base_release_paths().count(path) == 0) {
          return absl::FailedPreconditionError(absl::StrCat(
              QuotePath(path), " is a symlink in the install; the new version has a directory "
                               "there; refusing to go through it"));
        }
        removes_.push_back(Op(JournalOp::Kind::kRemove, path));
        removes_.back().id = (*next_id_)++;
      }
      mkdirs_.push_back(Op(JournalOp::Kind::kMakeDirectory, path));
      new_directories_.insert(path);
      AddChmod(path, 0700, v.mode, /*directory=*/true);
      return absl::OkStatus();
    }
    if (v.type == EntryType::kSymlink) {
      if (e.exists && e.type == EntryType::kSymlink && e.target == v.target) {
        return absl::OkStatus();
      }
      JournalOp op = Op(JournalOp::Kind::kReplace, path);
      PF_RETURN_IF_ERROR(Displace(path, e, &op.existed));
      op.id = (*next_id_)++;
      PF_RETURN_IF_ERROR(dir_.fs->Symlink(v.target, dir_.Staged(op.id)));
      replaces_.push_back(op);
      return absl::OkStatus();
    }
    const FileContent& c = v.content;
    if (c.kind == FileContent::Kind::kBase && c.base_path == path && e.exists &&
        e.type == EntryType::kFile) {
      if (e.mode != v.mode) AddChmod(path, e.mode, v.mode, /*directory=*/false);
      return absl::OkStatus();
    }
    JournalOp op = Op(JournalOp::Kind::kReplace, path);
    PF_RETURN_IF_ERROR(Displace(path, e, &op.existed));
    if (c.kind == FileContent::Kind::kOutput) {
      op.id = outputs_->IdOf(path);
      PF_RETURN_IF_ERROR(dir_.fs->Chmod(dir_.Staged(op.id), v.mode));
    } else {
      op.id = (*next_id_)++;
      if (c.kind == FileContent::Kind::kBase) {
        PF_RETURN_IF_ERROR(resolver_->CopyBaseFile(c, dir_.Staged(op.id), v.mode, dir_.fs));
      } else {
        PF_ASSIGN_OR_RETURN(std::unique_ptr<FileWriter> writer,
                            FileWriter::Create(dir_.Staged(op.id), v.mode, dir_.fs));
        PF_RETURN_IF_ERROR(CopySource(*c.data, writer.get()));
        PF_RETURN_IF_ERROR(writer->Close());
      }
    }
    replaces_.push_back(op);
    return absl::OkStatus();
  }

  void AddChmod(const std::string& path, uint32_t old_mode, uint32_t new_mode, bool directory) {
    JournalOp op = Op(JournalOp::Kind::kChmod, path);
    op.directory = directory;
    op.old_mode = old_mode;
    op.new_mode = new_mode;
    chmods_.push_back(op);
  }

  const StateDir& dir_;
  BaseTree* base_;
  ChainResolver* resolver_;
  StagingOutputs* outputs_;
  uint32_t* next_id_;
  std::vector<JournalOp> removes_, rmdirs_, mkdirs_, replaces_, chmods_;
  std::set<std::string> new_directories_;
};

absl::Status Step(const InPlaceOptions& options, absl::string_view step) {
  return options.on_step ? options.on_step(step) : absl::OkStatus();
}

// Steps 2-4 under the lock, with no journal present.
absl::Status ApplyLocked(const StateDir& dir, const std::vector<PackageInput>& chain,
                         const InPlaceOptions& options, InPlaceReport* report) {
  for (const std::string& d : {dir.txn, dir.staging, dir.backup}) {
    PF_RETURN_IF_ERROR(dir.fs->MakeDirectory(d, 0700));
  }
  BaseTree base(dir.install);
  ChainResolver resolver(&base, chain, options.chain);
  uint32_t next_id = 0;
  StagingOutputs outputs(&dir, &next_id);
  PF_RETURN_IF_ERROR(resolver.Run(&outputs));
  SwitchPlanner planner(dir, &base, &resolver, &outputs, &next_id);
  PF_ASSIGN_OR_RETURN(Journal journal, planner.Plan());
  report->changes = journal.ops.size();
  PF_RETURN_IF_ERROR(Step(options, "staged"));
  PF_RETURN_IF_ERROR(dir.fs->SyncFileSystem(dir.install));
  PF_RETURN_IF_ERROR(WriteFileAtomically(dir.journal, EncodeJournal(journal), 0644, dir.fs));

  absl::Status status = Step(options, "journal");
  for (size_t i = 0; i < journal.ops.size() && status.ok(); ++i) {
    status = ExecuteOp(dir, journal.ops[i],
                       [&] { return Step(options, absl::StrCat("op ", i, " midway")); });
    if (status.ok()) status = Step(options, absl::StrCat("op ", i));
  }
  if (status.ok()) status = dir.fs->SyncFileSystem(dir.install);
  if (!status.ok()) {
    absl::Status undo = RollBack(dir, journal);
    if (!undo.ok()) return absl::Status(status.code(), absl::StrCat(status.message(), "; ", undo.message()));
    return status;
  }
  journal.committed = true;
  absl::Status commit = WriteFileAtomically(dir.journal, EncodeJournal(journal), 0644, dir.fs);
  if (!commit.ok()) {
    // The rename may have landed before a later step failed: what the journal
    // on disk says decides, as it would for the next run.
    absl::StatusOr<std::string> text = dir.fs->ReadFile(dir.journal);
    absl::StatusOr<Journal> on_disk =
        text.ok() ? DecodeJournal(*text) : absl::StatusOr<Journal>(text.status());
    if (!on_disk.ok() || !on_disk->committed) {
      absl::Status undo = RollBack(dir, journal);
      return undo.ok() ? commit
                       : absl::Status(commit.code(), absl::StrCat(commit.message(), "; ", undo.message()));
    }
  }
  // The new version is in place. Cleaning up may fail or be cut short; the next
  // run finishes it (RecoverLocked), so neither is an error of this apply.
  Step(options, "committed").IgnoreError();
  CleanUp(dir).IgnoreError();
  return absl::OkStatus();
}

}  // namespace

const char* RecoveryName(Recovery recovery) {
  switch (recovery) {
    case Recovery::kNone:
      return "none";
    case Recovery::kCleanedUp:
      return "removed leftover staging";
    case Recovery::kRolledBack:
      return "rolled back an interrupted apply";
    case Recovery::kCompleted:
      return "completed an interrupted apply";
  }
  return "unknown";
}

absl::StatusOr<Recovery> RecoverInstall(const std::string& install_root, FileSystem* file_system) {
  StateDir dir(install_root, file_system);
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock, LockInstall(dir));
  return RecoverLocked(dir);
}

absl::Status ApplyInPlace(const std::string& install_root, const std::vector<PackageInput>& chain,
                          const InPlaceOptions& options, InPlaceReport* report) {
  InPlaceReport local;
  if (report == nullptr) report = &local;
  *report = InPlaceReport();
  PF_ASSIGN_OR_RETURN(FileInfo root, options.file_system->Stat(install_root));
  if (root.type != FileType::kDirectory) {
    return absl::InvalidArgumentError(install_root + ": not a directory");
  }
  StateDir dir(install_root, options.file_system);
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock, LockInstall(dir));
  PF_ASSIGN_OR_RETURN(report->recovery, RecoverLocked(dir));
  absl::Status status = ApplyLocked(dir, chain, options, report);
  if (!status.ok() && !LExists(dir, dir.journal)) dir.fs->RemoveTree(dir.txn).IgnoreError();
  return status;
}

}  // namespace patchfarm
