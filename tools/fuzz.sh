#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for half
# of SECONDS (default 60) from seeds made by the real `patchfarm diff`:
# apply_fuzzer (file patches) and package_fuzzer (tree packages, read and
# applied). Exit status: 0 if the fuzzers found nothing. Usage: tools/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
half=$(( (seconds + 1) / 2 ))
out=.bazel/fuzz
rm -rf "$out/seeds" "$out/trees"
mkdir -p "$out/corpus" "$out/package_corpus" "$out/seeds" "$out/trees"
common_srcs=(common/byte_io.cc common/sha256.cc core/delta/apply.cc
             core/delta/apply_entries.cc core/delta/cm.cc core/delta/diff_model.cc
             core/delta/format.cc core/delta/lzma_codec.cc core/delta/model_parts.cc
             core/delta/reference_predictor.cc core/delta/stream_reader.cc
             core/delta/zeroed_bytes.cc core/delta/zstd_codec.cc)
tree_srcs=(common/directory.cc common/file.cc common/file_system.cc common/interrupt_paths.cc
           core/tree/base_tree.cc
           core/tree/chain_resolver.cc core/tree/manifest.cc core/tree/package.cc
           core/tree/tree_apply.cc core/tree/tree_path.cc)
libs=(-labsl_strings -labsl_str_format_internal -labsl_status -labsl_statusor
  -labsl_strings_internal -labsl_cord -labsl_cordz_info -labsl_cord_internal
  -labsl_cordz_functions -labsl_cordz_handle -labsl_throw_delegate -labsl_int128
  -labsl_raw_logging_internal -labsl_base -labsl_spinlock_wait -labsl_exponential_biased
  -labsl_synchronization -labsl_time -labsl_time_zone -labsl_civil_time
  -labsl_stacktrace -labsl_symbolize -labsl_debugging_internal -labsl_demangle_internal
  -labsl_malloc_internal -labsl_graphcycles_internal -labsl_bad_optional_access
  -labsl_strerror -lzstd -llzma -lcrypto)
flags=(-std=c++17 -O1 -g -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
clang++ "${flags[@]}" tests/fuzz/apply_fuzzer.cc "${common_srcs[@]}" -o "$out/apply_fuzzer" "${libs[@]}"
clang++ "${flags[@]}" tests/fuzz/package_fuzzer.cc "${common_srcs[@]}" "${tree_srcs[@]}" \
  -o "$out/package_fuzzer" "${libs[@]}"

# Seeds: real patches (every method) between small related files, and real
# packages from a small base tree to two later versions.
bazel build //client:patchfarm
pf=.bazel/bin/client/patchfarm
python3 - "$out/seeds" "$out/trees" <<'PY'
import os, random, sys
d, trees = sys.argv[1], sys.argv[2]
rng = random.Random(1)
old = bytes(rng.randrange(8) for _ in range(3000))
new = old[1000:] + b"new bytes" + old[:900]
open(os.path.join(d, "old"), "wb").write(old)
open(os.path.join(d, "new"), "wb").write(new)
def tree(root, files, links):
    for path, data, mode in files:
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        open(full, "wb").write(data)
        os.chmod(full, mode)
    for path, target in links:
        os.symlink(target, os.path.join(root, path))
tree(f"{trees}/base", [("bin/tool", old, 0o755), ("data/a.txt", b"alpha\n" * 50, 0o644),
                       ("gone.txt", b"bye", 0o644)], [("bin/link", "tool")])
tree(f"{trees}/v1", [("bin/tool", new, 0o755), ("data/a.txt", b"alpha\n" * 50, 0o600),
                     ("moved/a.txt", b"alpha\n" * 50, 0o644), ("new/empty", b"", 0o644)],
     [("bin/link", "../data/a.txt")])
os.makedirs(f"{trees}/v2/only-dir/deeper")
# x86-64-like code whose functions call each other, built again with one
# function grown: the seeds of the predicted methods (4 and 5).
def program(grow):
    r = random.Random(2)
    bodies = [bytearray(r.randrange(40, 120) + (grow if f == 10 else 0)) for f in range(30)]
    calls = []
    for f, b in enumerate(bodies):
        for at in range(0, len(b) - 5, 9):
            b[at] = 0xE8
            calls.append((f, at, r.randrange(30)))
    starts, pos = [], 0
    for b in bodies:
        starts.append(pos)
        pos += len(b)
    out = bytearray(b"".join(bodies))
    for f, at, callee in calls:
        site = starts[f] + at
        out[site + 1:site + 5] = ((starts[callee] - (site + 5)) & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(out)
open(os.path.join(d, "code_old"), "wb").write(program(0))
open(os.path.join(d, "code_new"), "wb").write(program(48))
# One changed byte in 20 KB: long zero runs, exact entries (methods 7 and 8).
long_old = bytes(rng.randrange(8) for _ in range(20000))
open(os.path.join(d, "long_old"), "wb").write(long_old)
open(os.path.join(d, "long_new"), "wb").write(long_old[:9000] + b"X" + long_old[9001:] + b"tail")
PY
"$pf" diff --no-prefix "$out/seeds/old" "$out/seeds/new" "$out/seeds/p1" > /dev/null
"$pf" diff "$out/seeds/old" "$out/seeds/new" "$out/seeds/p2" > /dev/null
"$pf" diff --no-prefix --fast-apply "$out/seeds/old" "$out/seeds/new" "$out/seeds/p3" > /dev/null
"$pf" diff --no-prefix "$out/seeds/code_old" "$out/seeds/code_new" "$out/seeds/p4" | grep -q lzma-sparse-predicted-modeled
"$pf" diff --no-prefix --fast-apply "$out/seeds/code_old" "$out/seeds/code_new" "$out/seeds/p5" | grep -q predicted-streams
"$pf" diff --no-prefix "$out/seeds/long_old" "$out/seeds/long_new" "$out/seeds/p6" | grep -q lzma-sparse-modeled
for p in p1 p2 p3 p4 p5 p6; do
  old_file="$out/seeds/old"
  case $p in p4|p5) old_file="$out/seeds/code_old" ;; p6) old_file="$out/seeds/long_old" ;; esac
  python3 - "$old_file" "$out/seeds/$p" "$out/corpus/seed_$p" <<'PY'
import struct, sys
old = open(sys.argv[1], "rb").read()
open(sys.argv[3], "wb").write(struct.pack("<I", len(old)) + old + open(sys.argv[2], "rb").read())
PY
done
"$pf" diff "$out/trees/base" "$out/trees/v1" "$out/package_corpus/seed_v1" > /dev/null
"$pf" diff --fast-apply "$out/trees/base" "$out/trees/v1" "$out/package_corpus/seed_v1_fast" > /dev/null
"$pf" diff "$out/trees/base" "$out/trees/v2" "$out/package_corpus/seed_v2" > /dev/null
for p in seed_v1 seed_v2; do  # Raw tables (footer: u64 table size, u64 raw size, digest, magic).
  python3 - "$out/package_corpus/$p" <<'PY' | zstd -q -d -c > "$out/seeds/raw_$p"
import struct, sys
data = open(sys.argv[1], "rb").read()
table_size = struct.unpack("<Q", data[-52:-44])[0]
sys.stdout.buffer.write(data[-52 - table_size:-52])
PY
  { printf 'RAW:'; cat "$out/seeds/raw_$p"; } > "$out/package_corpus/raw_$p"
  { printf 'RAW1:'; cat "$out/seeds/raw_$p"; } > "$out/package_corpus/raw1_$p"  # Read as version 1.
done

run() {
  local name=$1 corpus=$2
  echo "--- $name for $half s"
  "$out/$name" -max_total_time="$half" -rss_limit_mb=1024 -timeout=10 \
    -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
  return "${PIPESTATUS[0]}"
}
run apply_fuzzer "$out/corpus"
PF_FUZZ_BASE="$PWD/$out/trees/base" run package_fuzzer "$out/package_corpus"
