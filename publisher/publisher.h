// Publishing: turns a product's finished releases on the coordinator into a
// static site (publisher/SITE.md) any web server can host: per channel a
// signed update index, a version/MOTD answer, cumulative and chained packages,
// full packages and an HTML download fragment. The new site is built beside
// the old one and switched in with one rename, so a reader never sees a mix;
// files no longer referenced go away with the old site. Which packages it
// offers is the product's policy (publisher/site_plan.h): chain links and
// cumulative packages the policy keeps, less those larger than
// max_patch_ratio of their target's full package (the size gate), and less
// those that do not rebuild their target (SiteWriter::AddPatch: refused).
#ifndef PATCHFARM_PUBLISHER_PUBLISHER_H_
#define PATCHFARM_PUBLISHER_PUBLISHER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "proto/patchfarm/v1/site.pb.h"

namespace patchfarm {

class FarmSource;  // publisher/farm_source.h

struct PublishOptions {
  // Where releases and packages are read: `farm` if set (the coordinator's
  // auto-publisher serves it in process), else the coordinator at
  // `coordinator` (host:port) over gRPC, with `token` and the TLS files.
  FarmSource* farm = nullptr;
  std::string coordinator;
  std::string product;
  std::string private_key_pem;
  std::string out_dir;
  std::string motd;
  int valid_days = 30;  // The index expires after this.
  std::string token;    // Bearer token for the coordinator, if it needs one.
  std::string tls_ca_pem, tls_cert_pem, tls_key_pem;  // TLS to the coordinator.
  // Plan only: report what the site would add, keep and remove next to the
  // live one, and change nothing under out_dir (full packages it must build
  // to size go to a temporary directory under scratch_dir, removed after).
  bool dry_run = false;
  std::string scratch_dir;  // Default: $TMPDIR, else /tmp.
  // The memory a full package may take to build (DiffOptions::max_memory):
  // a file whose whole-file diff would take more (a multi-GB asset pack) is
  // compressed in bounded memory (DiffBounded), as `patchfarm diff` does.
  // 0: half the memory this process may use (MemoryLimitBytes in
  // common/byte_size.h: the machine's, or its container's limit).
  uint64_t max_memory = 0;
  // After a publish, the site's cache drops what no published tree names
  // once it is this old (PruneSiteCache in site_cache.h): a release's files
  // read to build its full package, superseded packages.
  absl::Duration cache_grace = absl::Hours(24);
  // Dates the index (serial, published, expires).
  const Clock* clock = &SystemClock();
  // Whether a publish waits while another publish of the product into the
  // site runs; if not, it fails at once with Aborted (a daemon, which
  // publishes its products in turn, tries again later).
  bool wait_for_others = true;
};

// A package the size gate kept off the site.
struct GatedPackage {
  std::string channel, platform, name, from_version, to_version;
  uint64_t bytes = 0;       // The package.
  uint64_t full_bytes = 0;  // The full package of to_version.
};

// A package a publish refused because it does not rebuild its target from
// its source (SiteWriter::AddPatch): a worker's broken or hostile result.
// Once the site is switched in, the publish asks the coordinator to run its
// job again (FarmSource::RejectResult), which checks the package itself.
struct RefusedPackage {
  std::string channel, platform, name, from_version, to_version, job_id;
  std::string reason;
  std::string package_digest;  // 32 bytes.
  // What the coordinator did: "queued again (attempt 2)", "failed for good
  // after 3 attempts", or why it did nothing.
  std::string rerun;
};

// What an update from an older version to the newest downloads over the
// packages a site offers (publisher/update_sizes.h).
struct UpdateSize {
  std::string channel, platform;
  std::string version;  // The installed (older) version.
  bool intermediate = false;
  std::string newest;
  bool reachable = false;   // Some path leads to the newest tree.
  uint64_t bytes = 0;       // The cheapest path's download.
  int packages = 0;
  std::string way;          // "cumulative", "chain" or "full" (updater/update_path.h PathName).
  std::string path;         // "1.0 -> 1.1 -> 2.0 (2 packages, 5123 bytes)"
  uint64_t full_bytes = 0;  // The newest's full package; 0 if unknown.
};

struct PublishReport {
  uint64_t serial = 0;
  int channels = 0;
  int files = 0;        // Package, full and hotfix files written (a dry run: 0).
  uint64_t bytes = 0;
  std::string site;     // OUT_DIR/<product>
  std::vector<GatedPackage> gated;
  int checked = 0;  // Packages applied before signing (not those the live site signed).
  std::vector<RefusedPackage> refused;  // Not published (a dry run checks none).
  std::vector<UpdateSize> sizes;  // Per channel, platform and older version.
  std::vector<std::string> notes;  // Things worth a line that did not fail the publish.
  // The index of each channel as written (a dry run: as it would be, unsigned).
  std::vector<v1::UpdateIndex> indexes;
  // A dry run: the site's files ("<channel>/<name>", without index.json,
  // index.json.sig, version.ini and download.html, which are always
  // rewritten) next to the live site's: new, the same (name and SHA-256),
  // replaced (same name, other content) and no longer published.
  std::vector<std::string> added, kept, replaced, removed;
};

// Publishes `options.product` into options.out_dir (layout: SITE.md) with a
// serial above the live site's (and at least the time in seconds), after
// any other publish of the product into that site has ended (it waits, and
// says so in a note, or see wait_for_others). On
// success <out_dir>/<product> is a symlink to .published/<product>.<serial>;
// the tree it pointed to before is kept for readers still fetching from it,
// every older one is removed. On error the live site is unchanged and the
// tree being built is removed. FailedPrecondition if the product has no
// finished formal tree release; InvalidArgument for a bad product name or
// signing key; the code of core/tree/result_binding.h (PermissionDenied,
// DataLoss) for a stored package that does not lead from its release to the
// next, naming the job; the coordinator's errors as they come. After the
// switch it records the full packages it built with the coordinator
// (RecordFullPackage); a refusal there is a note, not an error.
// With options.dry_run nothing under out_dir changes; the report's serial is
// the one a publish would take.
absl::StatusOr<PublishReport> Publish(const PublishOptions& options);

}  // namespace patchfarm

#endif  // PATCHFARM_PUBLISHER_PUBLISHER_H_
