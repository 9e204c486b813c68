// One publish run's access to the farm (a FarmSource) and its local blob cache:
// fetching the status and manifests, downloading packages and hotfix files
// into a channel directory (checking each package against its releases,
// core/tree/result_binding.h), and building full packages, each once per
// release tree and kept in the cache. Used by Publish (publisher.cc) and its
// dry run (dry_run.cc). Not thread-safe.
#ifndef PATCHFARM_PUBLISHER_SITE_WRITER_H_
#define PATCHFARM_PUBLISHER_SITE_WRITER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "common/sha256.h"
#include "core/tree/manifest.h"
#include "proto/patchfarm/v1/farm.grpc.pb.h"
#include "publisher/farm_source.h"
#include "proto/patchfarm/v1/site.pb.h"
#include "publisher/publisher.h"
#include "storage/blob_store.h"

namespace patchfarm {

class SiteWriter {
 public:
  // Reads from `farm`, which must outlive this. Blobs and full packages are
  // kept under `cache_dir`; `read_only_cache_dir`, if not empty, is another
  // such cache looked in first and never written (a dry run's view of the
  // live one).
  SiteWriter(const PublishOptions& options, FarmSource* farm, std::string cache_dir,
             std::string read_only_cache_dir = "");

  // Opens (creating) the cache. Call before the rest.
  absl::Status Open();

  // The farm's status of options.product.
  absl::StatusOr<v1::StatusResponse> Status();

  // Copies blob `digest` into `channel_dir` as `name`.
  absl::StatusOr<v1::SiteFile> AddBlob(const std::string& channel_dir, const std::string& name,
                                       const Digest& digest);

  // Copies job `job`'s package into `channel_dir` as `name` after checking
  // that it leads from release `from` to release `to`: what the index signs
  // is checked here, whatever the coordinator accepted. The code of
  // result_binding.h, naming the package, if its tables do not. Unless the
  // live site published it already (TrustPublished), the package is also
  // applied to `from`'s files, reading only those it rebuilds from, and its
  // result hashed (core/tree/tree_apply.h WhyNotRebuilt): a worker's
  // broken or hostile blocks would cost every updater the package and then
  // the full one. One that does not rebuild `to`, or whose blocks read more
  // than kMaxCheckReadFactor times both releases, is nullopt, nothing
  // placed, with *refused saying why.
  absl::StatusOr<std::optional<v1::SitePatch>> AddPatch(const std::string& channel_dir,
                                                        const std::string& name,
                                                        const v1::JobStatus& job,
                                                        const v1::ReleaseStatus& from,
                                                        const v1::ReleaseStatus& to,
                                                        std::string* refused);

  // Packages (by SHA-256, hex) that AddPatch need not apply: the live site's,
  // which a publish checked before.
  void TrustPublished(std::set<std::string> sha256s) { published_ = std::move(sha256s); }

  // Copies the new content of a replaced file of `release` (hotfix
  // --replace) into `channel_dir` and returns its index entry, naming the
  // digest of the file it replaces in the release's tree.
  // FailedPrecondition if `replacement` is not of a regular file of that tree.
  absl::StatusOr<v1::SiteHotfixReplacement> AddReplacement(const std::string& channel_dir,
                                                           const std::string& platform,
                                                           const v1::ReleaseStatus& release,
                                                           const v1::ManifestEntry& replacement);

  // The full package of `release` (a tree package from an empty tree): its
  // path in a cache, size and digest. Built (downloading the release's
  // files) unless a cache holds it.
  struct FullPackage {
    std::string path;
    uint64_t size = 0;
    Digest digest{};
  };
  absl::StatusOr<FullPackage> BuildFullPackage(const v1::ReleaseStatus& release);
  // The full package if a cache holds it (nothing is built; it is hashed).
  std::optional<FullPackage> CachedFullPackage(const v1::ReleaseStatus& release);
  // Its size if a cache holds it (nothing is built nor read).
  std::optional<uint64_t> CachedFullPackageSize(const v1::ReleaseStatus& release);

  // Copies `release`'s full package into `channel_dir` as `name`.
  absl::StatusOr<v1::SiteFile> AddFullPackage(const std::string& channel_dir, const std::string& name,
                                              const v1::ReleaseStatus& release);

  // Tells the coordinator the size and digest of every full package built or
  // found in this run whose release does not record them yet.
  // PermissionDenied and the like as the coordinator answers.
  absl::Status RecordFullPackages(const v1::StatusResponse& status);

  int files() const { return files_; }
  uint64_t bytes() const { return bytes_; }
  int checked() const { return checked_; }  // Packages AddPatch applied.

 private:
  absl::StatusOr<const Manifest*> ManifestOf(const v1::ReleaseStatus& release);
  // The path of blob `digest`, downloading it into the cache if no cache has it.
  absl::StatusOr<std::string> BlobPath(const Digest& digest);
  // Places `path` (whose content is `digest`) in `channel_dir` as `name`,
  // once: a name placed already with the same content (two replacements of
  // one release with the same new bytes) is that file again; with other
  // content, FailedPrecondition naming it.
  absl::StatusOr<v1::SiteFile> AddFile(const std::string& channel_dir, const std::string& name,
                                       const std::string& path, const Digest& digest);
  std::string FullPackagePath(const std::string& cache_dir, const v1::ReleaseStatus& release) const;

  const PublishOptions& options_;
  const std::string cache_dir_;
  const std::string read_only_cache_dir_;
  FarmSource* farm_;
  std::unique_ptr<BlobStore> cache_;
  std::map<std::string, Manifest> manifests_;          // By release id.
  std::map<std::string, FullPackage> full_packages_;   // By release id.
  std::map<std::string, v1::SiteFile> placed_;          // By path in the new tree.
  std::set<std::string> published_;                     // TrustPublished, and those checked.
  int files_ = 0;
  int checked_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace patchfarm

#endif  // PATCHFARM_PUBLISHER_SITE_WRITER_H_
