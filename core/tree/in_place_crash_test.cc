// Crash and fault tests of in-place apply. A child process applies and is
// killed with SIGKILL at every step in turn (after staging, after the journal,
// after and in the middle of each switch operation, after commit); the next
// run must find the install as the old version or the new one, never a mix,
// and then finish the update. Injected errors at every step must leave the
// old version exactly. Power loss (FaultInjectionFileSystem: everything not
// fsynced is lost) at every step and at every file-system operation, and
// again during the recovery that follows, must leave the old version or, only
// if the apply had succeeded, the new one.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/fault_injection_file_system.h"
#include "common/file.h"
#include "core/tree/in_place.h"
#include "core/tree/package.h"
#include "core/tree/tree_diff.h"
#include "core/tree/tree_testing.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

struct Release {
  TreeSpec old_spec;
  Digest old_digest, new_digest;
  std::vector<std::string> package_bytes;  // A chain.
};

std::string PackageBetween(const std::string& a, const std::string& b) {
  std::string bytes;
  StringSink sink(&bytes);
  TreeDiffOptions options;
  options.delta.level = 3;
  EXPECT_TRUE(MakePackage(a, b, options, &sink).ok());
  return bytes;
}

// Three releases with every kind of change; packages v0->v1->v2.
Release MakeRelease(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Release r;
  r.old_spec = RandomTree(rng, 25);
  r.old_spec["will-be-dir"] = {EntryType::kFile, 0644, "a file that becomes a directory", ""};
  r.old_spec["will-be-file"] = {EntryType::kDirectory, 0755, "", ""};
  r.old_spec["will-be-file/inner"] = {EntryType::kDirectory, 0700, "", ""};
  r.old_spec["will-be-file/inner/x"] = {EntryType::kFile, 0644, "goes away", ""};
  r.old_spec["real"] = {EntryType::kDirectory, 0755, "", ""};
  r.old_spec["real/bin"] = {EntryType::kDirectory, 0755, "", ""};
  r.old_spec["real/bin/tool"] = {EntryType::kFile, 0755, "tool", ""};
  r.old_spec["current"] = {EntryType::kSymlink, 0, "", "real"};
  TreeSpec v1 = NextRelease(rng, r.old_spec);
  TreeSpec v2 = NextRelease(rng, v1);
  v2.erase("will-be-dir");
  v2["will-be-dir"] = {EntryType::kDirectory, 0750, "", ""};
  v2["will-be-dir/inside"] = {EntryType::kFile, 0600, "now inside", ""};
  for (const char* gone : {"will-be-file", "will-be-file/inner", "will-be-file/inner/x"}) {
    v2.erase(gone);
  }
  v2["will-be-file"] = {EntryType::kFile, 0644, "a directory that became a file", ""};
  // A symlink to a directory becomes a real directory with the same layout
  // (rollback must not act through the symlink that is still there).
  v2["current"] = {EntryType::kDirectory, 0750, "", ""};
  v2["current/bin"] = {EntryType::kDirectory, 0700, "", ""};
  v2["current/bin/tool"] = {EntryType::kFile, 0755, "tool 2", ""};
  std::vector<std::string> roots;
  for (const TreeSpec* spec : {&r.old_spec, &v1, &v2}) {
    roots.push_back(NewTempPath("release"));
    EXPECT_TRUE(WriteTree(roots.back(), *spec).ok());
  }
  r.old_digest = ManifestDigest(ScanOrDie(roots[0]));
  r.new_digest = ManifestDigest(ScanOrDie(roots[2]));
  r.package_bytes = {PackageBetween(roots[0], roots[1]), PackageBetween(roots[1], roots[2])};
  return r;
}

// Applies the release's chain to `install`, calling `on_step`.
absl::Status ApplyChain(const Release& r, const std::string& install,
                        std::function<absl::Status(absl::string_view)> on_step,
                        FileSystem* fs = DefaultFileSystem()) {
  std::vector<std::unique_ptr<StringSource>> sources;
  std::vector<Package> packages;
  packages.reserve(r.package_bytes.size());
  std::vector<PackageInput> chain;
  for (const std::string& bytes : r.package_bytes) {
    sources.push_back(std::make_unique<StringSource>(bytes));
    absl::StatusOr<Package> p = ReadPackage(*sources.back());
    if (!p.ok()) return p.status();
    packages.push_back(std::move(*p));
    chain.push_back({"pkg", sources.back().get(), &packages.back()});
  }
  InPlaceOptions options;
  options.on_step = std::move(on_step);
  options.file_system = fs;
  return ApplyInPlace(install, chain, options);
}

void ExpectNoApplyState(const std::string& install) {
  struct stat st;
  EXPECT_NE(lstat((install + "/.patchfarm/journal").c_str(), &st), 0);
  EXPECT_NE(lstat((install + "/.patchfarm/txn").c_str(), &st), 0);
}

TEST(InPlaceCrash, KilledAtEveryStepEndsOldOrNewAndThenNew) {
  const Release r = MakeRelease(42);
  int crashes = 0, ended_old = 0, ended_new = 0;
  for (int kill_at = 0;; ++kill_at) {
    SCOPED_TRACE("kill at step " + std::to_string(kill_at));
    const std::string install = NewTempPath("install");
    ASSERT_TRUE(WriteTree(install, r.old_spec).ok());
    fflush(nullptr);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int steps = 0;
      absl::Status status = ApplyChain(r, install, [&](absl::string_view) {
        if (steps++ == kill_at) raise(SIGKILL);
        return absl::OkStatus();
      });
      _exit(status.ok() ? 0 : 1);
    }
    int wstatus = 0;
    ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
    if (WIFEXITED(wstatus)) {  // Ran past the last step.
      ASSERT_EQ(WEXITSTATUS(wstatus), 0);
      EXPECT_EQ(ManifestDigest(ScanOrDie(install)), r.new_digest);
      break;
    }
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
    ++crashes;
    // The next run: recovery alone, then the tree is one version or the other.
    absl::StatusOr<Recovery> recovery = RecoverInstall(install);
    ASSERT_TRUE(recovery.ok()) << recovery.status();
    ExpectNoApplyState(install);
    Digest now = ManifestDigest(ScanOrDie(install));
    ASSERT_TRUE(now == r.old_digest || now == r.new_digest) << "mixed install";
    if (now == r.old_digest) {
      ++ended_old;
      absl::Status status = ApplyChain(r, install, nullptr);
      ASSERT_TRUE(status.ok()) << status;
    } else {
      ++ended_new;
    }
    EXPECT_EQ(ManifestDigest(ScanOrDie(install)), r.new_digest);
  }
  EXPECT_GT(crashes, 10);
  EXPECT_GT(ended_old, 0);
  EXPECT_GT(ended_new, 0);  // Killed after commit: rolled forward.
}

TEST(InPlaceCrash, ErrorAtEveryStepLeavesTheOldVersion) {
  const Release r = MakeRelease(43);
  for (int fail_at = 0;; ++fail_at) {
    SCOPED_TRACE("fail at step " + std::to_string(fail_at));
    const std::string install = NewTempPath("install");
    ASSERT_TRUE(WriteTree(install, r.old_spec).ok());
    int steps = 0;
    bool failed = false;
    absl::Status status = ApplyChain(r, install, [&](absl::string_view step) {
      if (steps++ != fail_at || step == "committed") return absl::OkStatus();
      failed = true;
      return absl::UnavailableError(absl::StrCat("injected fault at ", step));
    });
    if (!failed) {
      ASSERT_TRUE(status.ok()) << status;
      EXPECT_EQ(ManifestDigest(ScanOrDie(install)), r.new_digest);
      break;
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_EQ(ManifestDigest(ScanOrDie(install)), r.old_digest);
    ExpectNoApplyState(install);
  }
}

// After a simulated power loss: recovery leaves the old version, or the new one
// exactly when the apply had succeeded; then the update completes.
void ExpectRecoveredAndFinish(const Release& r, const std::string& install,
                              FaultInjectionFileSystem* fs, bool applied) {
  absl::StatusOr<Recovery> recovery = RecoverInstall(install, fs);
  ASSERT_TRUE(recovery.ok()) << recovery.status();
  ExpectNoApplyState(install);
  const Digest now = ManifestDigest(ScanOrDie(install));
  if (applied) {
    ASSERT_TRUE(now == r.new_digest) << "the apply succeeded but the new version was lost";
    return;
  }
  ASSERT_TRUE(now == r.old_digest) << "the apply failed but the install is not the old version";
  absl::Status status = ApplyChain(r, install, nullptr, fs);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(ManifestDigest(ScanOrDie(install)), r.new_digest);
}

TEST(InPlacePowerLoss, AtEveryStep) {
  const Release r = MakeRelease(44);
  int losses = 0;
  for (int crash_at = 0;; ++crash_at) {
    SCOPED_TRACE(absl::StrCat("power loss at step ", crash_at));
    const std::string install = NewTempPath("install");
    ASSERT_TRUE(WriteTree(install, r.old_spec).ok());
    FaultInjectionFileSystem fs(testing::TempDir());
    int steps = 0;
    std::string step_name;
    absl::Status status = ApplyChain(
        r, install,
        [&](absl::string_view step) {
          if (steps++ == crash_at) {
            step_name = std::string(step);
            fs.Crash();  // Nothing after this step reaches the disk.
          }
          return absl::OkStatus();
        },
        &fs);
    if (!fs.crashed()) {  // Ran past the last step.
      ASSERT_TRUE(status.ok()) << status;
      EXPECT_EQ(ManifestDigest(ScanOrDie(install)), r.new_digest);
      break;
    }
    SCOPED_TRACE(step_name);
    ++losses;
    EXPECT_EQ(status.ok(), step_name == "committed") << status;
    ASSERT_TRUE(fs.SimulatePowerLoss().ok());
    ExpectRecoveredAndFinish(r, install, &fs, status.ok());
  }
  EXPECT_GT(losses, 10);
}

// Runs the apply with a power loss before its `crash_at`-th file-system
// operation. Returns false once the apply ran to the end without one.
bool ApplyWithPowerLoss(const Release& r, const std::string& install,
                        FaultInjectionFileSystem* fs, int64_t crash_at, bool* applied) {
  fs->CrashAfter(crash_at);
  absl::Status status = ApplyChain(r, install, nullptr, fs);
  *applied = status.ok();
  if (!fs->crashed()) {
    EXPECT_TRUE(status.ok()) << status;
    return false;
  }
  EXPECT_TRUE(fs->SimulatePowerLoss().ok());
  return true;
}

TEST(InPlacePowerLoss, AtEveryFileSystemOperation) {
  const Release r = MakeRelease(45);
  int losses = 0, ended_old = 0, ended_new = 0;
  for (int64_t crash_at = 0;; ++crash_at) {
    SCOPED_TRACE(absl::StrCat("power loss before operation ", crash_at));
    const std::string install = NewTempPath("install");
    ASSERT_TRUE(WriteTree(install, r.old_spec).ok());
    FaultInjectionFileSystem fs(testing::TempDir());
    bool applied = false;
    if (!ApplyWithPowerLoss(r, install, &fs, crash_at, &applied)) {
      EXPECT_EQ(ManifestDigest(ScanOrDie(install)), r.new_digest);
      break;
    }
    ++losses;
    ++(applied ? ended_new : ended_old);
    ExpectRecoveredAndFinish(r, install, &fs, applied);
    if (HasFatalFailure()) return;
  }
  RecordProperty("power_losses", losses);
  EXPECT_GT(losses, 50);
  EXPECT_GT(ended_old, 0);
  EXPECT_GT(ended_new, 0);  // Lost power while cleaning up after commit.
}

// A second power loss at every operation of the recovery that follows a
// first one (at a sample of points in the apply).
TEST(InPlacePowerLoss, AgainDuringRecovery) {
  const Release r = MakeRelease(47);
  int second_losses = 0;
  for (int64_t crash_at = 0;; crash_at += 10) {
    bool applied = false;
    {
      const std::string probe = NewTempPath("probe");
      ASSERT_TRUE(WriteTree(probe, r.old_spec).ok());
      FaultInjectionFileSystem fs(testing::TempDir());
      if (!ApplyWithPowerLoss(r, probe, &fs, crash_at, &applied)) break;
    }
    for (int64_t recovery_crash = 0;; ++recovery_crash) {
      SCOPED_TRACE(absl::StrCat("power loss before apply operation ", crash_at,
                                ", then before recovery operation ", recovery_crash));
      const std::string install = NewTempPath("install");
      ASSERT_TRUE(WriteTree(install, r.old_spec).ok());
      FaultInjectionFileSystem fs(testing::TempDir());
      ASSERT_TRUE(ApplyWithPowerLoss(r, install, &fs, crash_at, &applied));
      fs.CrashAfter(recovery_crash);
      absl::StatusOr<Recovery> recovery = RecoverInstall(install, &fs);
      if (!fs.crashed()) {
        ASSERT_TRUE(recovery.ok()) << recovery.status();
        break;
      }
      ++second_losses;
      ASSERT_TRUE(fs.SimulatePowerLoss().ok());
      ExpectRecoveredAndFinish(r, install, &fs, applied);
      if (HasFatalFailure()) return;
    }
  }
  RecordProperty("second_power_losses", second_losses);
  EXPECT_GT(second_losses, 10);
}

}  // namespace
}  // namespace patchfarm
