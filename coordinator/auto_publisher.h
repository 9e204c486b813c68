// Publishing on its own: when every job of a product's releases has finished
// and something changed since its last publish, runs `patchfarm publish` for
// that product (publisher/publisher.h). Enabled by patchfarm-coordinator's
// --site and --key. Runs on its own thread until Stop().
#ifndef PATCHFARM_COORDINATOR_AUTO_PUBLISHER_H_
#define PATCHFARM_COORDINATOR_AUTO_PUBLISHER_H_

#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "coordinator/coordinator.h"
#include "publisher/publisher.h"

namespace patchfarm {

class AutoPublisher {
 public:
  // `options.product` is ignored: every product is published.
  AutoPublisher(Coordinator* coordinator, PublishOptions options);
  ~AutoPublisher();
  void Stop();

 private:
  void Run();

  Coordinator* coordinator_;
  PublishOptions options_;
  std::map<std::string, std::string> published_;  // Product -> state last published.
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_AUTO_PUBLISHER_H_
