// Publishing on its own: when every job of a product's releases has finished
// and something changed since its last publish, runs `patchfarm publish` for
// that product (publisher/publisher.h), reading the coordinator's state and
// blobs in process (a FarmSource over the Coordinator and its BlobStore: no
// channel, token or certificate). Enabled by patchfarm-coordinator's --site
// and --key. Runs on its own thread until Stop().
#ifndef PATCHFARM_COORDINATOR_AUTO_PUBLISHER_H_
#define PATCHFARM_COORDINATOR_AUTO_PUBLISHER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

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
  void Log(const std::string& line) const {
    if (log_) log_(line);
  }

  Coordinator* coordinator_;
  std::unique_ptr<FarmSource> farm_;
  PublishOptions options_;
  std::function<void(const std::string&)> log_;
  std::map<std::string, std::string> published_;  // Product -> state last published.
  std::set<std::string> busy_;  // Products another publish held at the last try (logged).
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_AUTO_PUBLISHER_H_
