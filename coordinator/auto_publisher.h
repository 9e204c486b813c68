// Publishing on its own: when every job of a product's releases has finished
// and something changed since its last publish, runs `patchfarm publish` for
// that product (publisher/publisher.h), reading the coordinator's state and
// blobs in process (a FarmSource over the Coordinator and its BlobStore: no
// channel, token or certificate). It also publishes a product again, signing
// a new index, once half the index's validity (PublishOptions::valid_days)
// has passed since its last publish: updaters refuse an expired index, and a
// game may go a month without a release. A publish that fails (a full disk)
// is tried again after 1 minute, then after a wait that doubles, up to an
// hour, until it succeeds; each new error is logged once. Enabled by
// patchfarm-coordinator's --site and --key. Runs on its own thread until
// Stop(); times come from PublishOptions::clock.
#ifndef PATCHFARM_COORDINATOR_AUTO_PUBLISHER_H_
#define PATCHFARM_COORDINATOR_AUTO_PUBLISHER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "coordinator/coordinator.h"
#include "publisher/farm_source.h"
#include "publisher/publisher.h"
#include "storage/blob_store.h"

namespace patchfarm {

class AutoPublisher {
 public:
  // `options.product`, `farm`, `coordinator` and its credentials are
  // ignored: every product is published, from `coordinator` and `blobs`
  // (which must outlive this).
  // `log` gets one line per publish, package kept off and failure.
  AutoPublisher(Coordinator* coordinator, BlobStore* blobs, PublishOptions options,
                std::function<void(const std::string&)> log);
  ~AutoPublisher();
  void Stop();

 private:
  void Run();
  // Publishes `product` if its `state` changed since its last publish and
  // its releases are `finished`, or if its index is half way to expiring;
  // not while a failed try's wait runs, unless the state changed since.
  void PublishIfDue(const std::string& product, const std::string& state, bool finished);

  static constexpr absl::Duration kFirstRetry = absl::Minutes(1);
  static constexpr absl::Duration kLastRetry = absl::Hours(1);
  struct Published {
    std::string state;  // Of the last successful publish.
    absl::Time at = absl::InfinitePast();
  };
  struct Retry {
    std::string state;  // Of the last failed try.
    absl::Time next = absl::InfinitePast();
    absl::Duration wait = absl::ZeroDuration();
    std::string logged;  // The last error logged.
  };
  void Log(const std::string& line) const {
    if (log_) log_(line);
  }

  Coordinator* coordinator_;
  std::unique_ptr<FarmSource> farm_;
  PublishOptions options_;
  std::function<void(const std::string&)> log_;
  std::map<std::string, Published> published_;  // By product.
  std::map<std::string, Retry> retries_;         // By product, while its publish fails.
  std::set<std::string> busy_;  // Products another publish held at the last try (logged).
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_AUTO_PUBLISHER_H_
