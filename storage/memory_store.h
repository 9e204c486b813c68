// An in-memory Store for tests. Thread-safe.
#ifndef PATCHFARM_STORAGE_MEMORY_STORE_H_
#define PATCHFARM_STORAGE_MEMORY_STORE_H_

#include <map>
#include <mutex>

#include "storage/store.h"

namespace patchfarm {

class MemoryStore : public Store {
 public:
  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = data_.find(std::string(key));
    if (it == data_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  absl::Status Write(const std::vector<StoreWrite>& writes, bool) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_writes_) return absl::UnavailableError("injected write failure");
    for (const StoreWrite& w : writes) {
      if (w.value) {
        data_[w.key] = *w.value;
      } else {
        data_.erase(w.key);
      }
    }
    return absl::OkStatus();
  }
  absl::Status Scan(absl::string_view prefix,
                    const std::function<bool(absl::string_view, absl::string_view)>& visit) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = data_.lower_bound(std::string(prefix));
         it != data_.end() && absl::string_view(it->first).substr(0, prefix.size()) == prefix;
         ++it) {
      if (!visit(it->first, it->second)) break;
    }
    return absl::OkStatus();
  }

  // From now on every Write fails (Unavailable) and changes nothing.
  void FailWrites(bool fail) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_writes_ = fail;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> data_;
  bool fail_writes_ = false;
};

}  // namespace patchfarm

#endif  // PATCHFARM_STORAGE_MEMORY_STORE_H_
