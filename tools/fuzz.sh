#!/usr/bin/env bash
# Builds the libFuzzer target for apply with clang (ASan + UBSan) and runs it for
# SECONDS (default 60) from seeds made by the real `patchfarm diff`.
# Exit status: 0 if the fuzzer found nothing. Usage: tools/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
out=.bazel/fuzz
mkdir -p "$out/corpus" "$out/seeds"
srcs=(tests/fuzz/apply_fuzzer.cc common/byte_io.cc common/sha256.cc
      core/delta/apply.cc core/delta/cm.cc core/delta/diff_model.cc core/delta/format.cc
      core/delta/zstd_codec.cc)
clang++ -std=c++17 -O1 -g -I. -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined "${srcs[@]}" -o "$out/apply_fuzzer" \
  -labsl_strings -labsl_str_format_internal -labsl_status -labsl_statusor \
  -labsl_strings_internal -labsl_cord -labsl_cordz_info -labsl_cord_internal \
  -labsl_cordz_functions -labsl_cordz_handle -labsl_throw_delegate -labsl_int128 \
  -labsl_raw_logging_internal -labsl_base -labsl_spinlock_wait -labsl_exponential_biased \
  -labsl_synchronization -labsl_time -labsl_time_zone -labsl_civil_time \
  -labsl_stacktrace -labsl_symbolize -labsl_debugging_internal -labsl_demangle_internal \
  -labsl_malloc_internal -labsl_graphcycles_internal -labsl_bad_optional_access \
  -labsl_strerror -lzstd -lcrypto

# Seeds: real patches (every method) between small related files.
bazel build //client:patchfarm
pf=.bazel/bin/client/patchfarm
python3 - "$out/seeds" <<'PY'
import os, random, sys
d = sys.argv[1]
rng = random.Random(1)
old = bytes(rng.randrange(8) for _ in range(3000))
new = old[1000:] + b"new bytes" + old[:900]
open(os.path.join(d, "old"), "wb").write(old)
open(os.path.join(d, "new"), "wb").write(new)
PY
"$pf" diff --no-prefix "$out/seeds/old" "$out/seeds/new" "$out/seeds/p1" > /dev/null
"$pf" diff "$out/seeds/old" "$out/seeds/new" "$out/seeds/p2" > /dev/null
"$pf" diff --no-prefix --fast-apply "$out/seeds/old" "$out/seeds/new" "$out/seeds/p3" > /dev/null
for p in p1 p2 p3; do
  python3 - "$out/seeds/old" "$out/seeds/$p" "$out/corpus/seed_$p" <<'PY'
import struct, sys
old = open(sys.argv[1], "rb").read()
open(sys.argv[3], "wb").write(struct.pack("<I", len(old)) + old + open(sys.argv[2], "rb").read())
PY
done
"$out/apply_fuzzer" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 \
  -print_final_stats=1 "$out/corpus" 2>&1 | tail -n 12
