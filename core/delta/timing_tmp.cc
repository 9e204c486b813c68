#include <chrono>
#include <cstdio>
#include "absl/strings/string_view.h"
#include "common/file.h"
#include "core/delta/suffix_index.h"
#include "core/delta/matcher.h"
#include "core/delta/diff_model.h"
#include "core/delta/zstd_codec.h"
using namespace patchfarm;
int main(int argc, char** argv) {
  auto o = *MappedFile::Open(argv[1]); auto n = *MappedFile::Open(argv[2]);
  auto t = std::chrono::steady_clock::now();
  auto lap = [&](const char* what) { auto now = std::chrono::steady_clock::now(); printf("%s %.3f\n", what, std::chrono::duration<double>(now - t).count()); t = now; };
  std::string a(o->data()), b(n->data()); lap("read");
  auto idx = *SuffixIndex::Build(a); lap("sa");
  MatchOptions mo; auto ops = MatchAll(a, b, idx, mo); lap("match2");

  std::string diff;
  for (auto& op : ops) for (int64_t i = 0; i < op.diff_len; ++i) diff.push_back(b[op.new_pos + i] - a[op.old_pos + i]);
  lap("diffbytes");
  DiffModelEncoder enc; const uint8_t* d = (const uint8_t*)diff.data();
  for (auto& op : ops) { enc.Encode((const uint8_t*)a.data() + op.old_pos, d, op.diff_len); d += op.diff_len; }
  printf("model bytes %zu\n", enc.Finish().size()); lap("model");

}
