#!/usr/bin/env bash
# A release that unpacks a pack into loose files: old holds one SIZE-MiB
# random data.pak, new its FILES equal slices (each with a byte changed per
# MiB) as data/chunkNN.bin. Every slice's source is the whole pack, so the
# tree package names it in one block per slice; apply used to hash it again
# for each (core/delta/apply.h ApplyOptions::old_digest). Times
# `patchfarm diff` and `patchfarm apply` (REPS runs, the median) and checks
# the result file for file.
# Usage: bench/pak_unpacked.sh [SIZE_MIB] [FILES] [REPS]   (PF=BINARY times another patchfarm)
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-256}" files="${2:-16}" reps="${3:-5}"
PF="${PF:-$PWD/dist/bin/patchfarm}"
[ -x "$PF" ] || tools/build.sh > /dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$size" "$files" <<'PY'
import os, sys
work, size, files = sys.argv[1], int(sys.argv[2]) << 20, int(sys.argv[3])
os.makedirs(f"{work}/old"); os.makedirs(f"{work}/new/data")
blob = bytearray(os.urandom(size))
open(f"{work}/old/data.pak", "wb").write(blob)
chunk = size // files
for i in range(files):
    part = bytearray(blob[i * chunk:(i + 1) * chunk])
    for k in range(0, len(part), 1 << 20):
        part[k] ^= 0x5a
    open(f"{work}/new/data/chunk{i:02d}.bin", "wb").write(part)
PY
/usr/bin/time -f "diff: %e s wall, %M KiB peak RSS" "$PF" diff "$work/old" "$work/new" "$work/pkg"
times=()
for _ in $(seq "$reps"); do
  rm -rf "$work/out"
  sync
  start=$(date +%s.%N)
  "$PF" apply "$work/old" "$work/pkg" "$work/out" > /dev/null
  times+=("$(echo "$(date +%s.%N) - $start" | bc)")
done
printf 'apply: median %s s of %s runs\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((reps + 1) / 2))p")" "$reps"
diff -r "$work/new" "$work/out" > /dev/null && echo "applied: the new tree, file for file"
