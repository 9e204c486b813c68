// Publishing: turns a product's finished releases on the coordinator into a
// static site (publisher/SITE.md) any web server can host: per channel a
// signed update index, a version/MOTD answer, cumulative and chained packages,
// full packages and an HTML download fragment. The new site is built beside
// the old one and switched in with one rename, so a reader never sees a mix;
// files no longer referenced go away with the old site.
#ifndef PATCHFARM_PUBLISHER_PUBLISHER_H_
#define PATCHFARM_PUBLISHER_PUBLISHER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace patchfarm {

struct PublishOptions {
  std::string coordinator;  // host:port
  std::string product;
  std::string private_key_pem;
  std::string out_dir;
  std::string motd;
  int valid_days = 30;  // The index expires after this.
  std::string token;    // Bearer token for the coordinator, if it needs one.
  std::string tls_ca_pem, tls_cert_pem, tls_key_pem;  // TLS to the coordinator.
};

struct PublishReport {
  uint64_t serial = 0;
  int channels = 0;
  int files = 0;
  uint64_t bytes = 0;
  std::string site;  // OUT_DIR/<product>
};

// Publishes `options.product` into options.out_dir (layout: SITE.md) with a
// serial above the live site's (and at least the time in seconds). On
// success <out_dir>/<product> is a symlink to .published/<product>.<serial>;
// the tree it pointed to before is kept for readers still fetching from it,
// every older one is removed. On error the live site is unchanged and the
// tree being built is removed. FailedPrecondition if the product has no
// finished formal tree release; InvalidArgument for a bad product name or
// signing key; the code of core/tree/result_binding.h (PermissionDenied,
// DataLoss) for a stored package that does not lead from its release to the
// next, naming the job; the coordinator's errors as they come.
absl::StatusOr<PublishReport> Publish(const PublishOptions& options);

}  // namespace patchfarm

#endif  // PATCHFARM_PUBLISHER_PUBLISHER_H_
