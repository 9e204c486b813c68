#include "core/tree/similarity.h"

#include <algorithm>
#include <array>

namespace patchfarm {
namespace {

// Gear hash table: 256 pseudo-random words (splitmix64 from a fixed seed).
std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> gear;
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (uint64_t& g : gear) {
    state += 0x9e3779b97f4a7c15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    g = z ^ (z >> 31);
  }
  return gear;
}

}  // namespace

Sketch SketchOf(absl::string_view data) {
  SketchBuilder builder;
  builder.Update(data);
  return builder.Finish();
}

void SketchBuilder::Update(absl::string_view piece) {
  static const std::array<uint64_t, 256> kGear = MakeGear();
  for (char c : piece) {
    // After 64 steps a byte has shifted out: the hash depends on the last 64 bytes.
    hash_ = (hash_ << 1) + kGear[static_cast<uint8_t>(c)];
    if (position_++ >= 63 && (hash_ >> 58) == 0) {
      samples_.push_back(hash_);
      if (samples_.size() >= 4 * kSketchSize) Trim();
    }
  }
}

void SketchBuilder::Trim() {
  std::sort(samples_.begin(), samples_.end());
  samples_.erase(std::unique(samples_.begin(), samples_.end()), samples_.end());
  if (samples_.size() > kSketchSize) samples_.resize(kSketchSize);
}

Sketch SketchBuilder::Finish() {
  Trim();
  return std::move(samples_);
}

void SimilarityIndex::Add(uint32_t id, const Sketch& sketch) {
  for (uint64_t value : sketch) {
    Files& files = files_by_value_[value];
    if (files.ids.size() < kMaxFilesPerValue) {
      files.ids.push_back(id);
    } else {
      files.common = true;
    }
  }
  sketches_[id] = sketch;
}

uint32_t SimilarityIndex::Score(uint32_t id, const Sketch& sketch) const {
  auto it = sketches_.find(id);
  if (it == sketches_.end()) return 0;
  const Sketch& other = it->second;
  uint32_t shared = 0;
  size_t i = 0, j = 0;
  while (i < sketch.size() && j < other.size()) {
    if (sketch[i] < other[j]) {
      ++i;
    } else if (sketch[i] > other[j]) {
      ++j;
    } else {
      ++shared, ++i, ++j;
    }
  }
  return shared;
}

std::optional<SimilarityIndex::Match> SimilarityIndex::BestMatch(const Sketch& sketch) const {
  std::vector<uint32_t> uncommon_votes, common_votes;  // One id per vote.
  for (uint64_t value : sketch) {
    auto it = files_by_value_.find(value);
    if (it == files_by_value_.end()) continue;
    std::vector<uint32_t>& votes = it->second.common ? common_votes : uncommon_votes;
    votes.insert(votes.end(), it->second.ids.begin(), it->second.ids.end());
  }
  struct Candidate {
    uint32_t id, uncommon, common;
  };
  std::vector<Candidate> candidates;
  std::sort(uncommon_votes.begin(), uncommon_votes.end());
  std::sort(common_votes.begin(), common_votes.end());
  auto u = uncommon_votes.begin(), c = common_votes.begin();
  while (u != uncommon_votes.end() || c != common_votes.end()) {
    uint32_t id = c == common_votes.end() || (u != uncommon_votes.end() && *u < *c) ? *u : *c;
    Candidate candidate{id, 0, 0};
    for (; u != uncommon_votes.end() && *u == id; ++u) ++candidate.uncommon;
    for (; c != common_votes.end() && *c == id; ++c) ++candidate.common;
    candidates.push_back(candidate);
  }
  auto ranks_before = [](const Candidate& a, const Candidate& b) {
    if (a.uncommon != b.uncommon) return a.uncommon > b.uncommon;
    if (a.common != b.common) return a.common > b.common;
    return a.id < b.id;
  };
  size_t rescored = std::min(candidates.size(), kRescored);
  std::partial_sort(candidates.begin(), candidates.begin() + rescored, candidates.end(),
                    ranks_before);
  std::optional<Match> best;
  for (size_t i = 0; i < rescored; ++i) {
    Match match{candidates[i].id, Score(candidates[i].id, sketch)};
    if (!best || match.score > best->score || (match.score == best->score && match.id < best->id)) {
      best = match;
    }
  }
  return best;
}

}  // namespace patchfarm
