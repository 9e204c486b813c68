// MapIndexStore: an IndexStore (diff.h) in a map, for tests. Not thread-safe.
#ifndef PATCHFARM_CORE_DELTA_INDEX_STORE_TESTING_H_
#define PATCHFARM_CORE_DELTA_INDEX_STORE_TESTING_H_

#include <map>
#include <optional>
#include <string>

#include "core/delta/diff.h"

namespace patchfarm {

class MapIndexStore : public IndexStore {
 public:
  std::optional<std::string> Load(const std::string& key) override {
    auto it = saved.find(key);
    if (it == saved.end()) return std::nullopt;
    return it->second;
  }
  void Save(const std::string& key, absl::string_view bytes) override {
    saved[key] = std::string(bytes);
  }

  std::map<std::string, std::string> saved;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_INDEX_STORE_TESTING_H_
